import type { AnyStateMachine, AnyStateNode } from 'xstate';

/**
 * The statechart of a machine, read from its definition (never drawn by
 * hand): `mailtokend graph` prints it as Mermaid or DOT, the dashboard draws
 * it as SVG. Transitions without a target (actions only, no change of state)
 * are left out: they never move an account.
 */

export type TransitionKind = 'event' | 'after' | 'always' | 'done' | 'error';

export interface GraphTransition {
  from: string;
  to: string;
  kind: TransitionKind;
  /** What a reader sees: the event name, `after refreshDue`, `done refresh`, `always`. */
  label: string;
  /** The machine event type, as the machine knows it. */
  event: string;
  guard?: string;
  /** The delay's name (`after` transitions). */
  delay?: string;
  /** Leaves and re-enters its own state (timers restart). */
  reenter?: boolean;
}

export interface GraphState {
  id: string;
  description?: string;
}

export interface MachineGraph {
  id: string;
  initial: string;
  states: GraphState[];
  transitions: GraphTransition[];
}

function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && 'type' in guard && typeof guard.type === 'string') return guard.type;
  if (typeof guard === 'function') return guard.name || 'guard';
  return 'guard';
}

function invokeSource(node: AnyStateNode, eventType: string): string {
  for (const invoke of node.invoke) {
    if (eventType.endsWith(`.actor.${invoke.id}`)) return typeof invoke.src === 'string' ? invoke.src : invoke.id;
  }
  return 'actor';
}

/** The top-level states of `machine` and every transition between them. */
export function describeMachine(machine: AnyStateMachine): MachineGraph {
  const root = machine.root;
  const states: GraphState[] = [];
  const transitions: GraphTransition[] = [];
  for (const node of Object.values(root.states) as AnyStateNode[]) {
    states.push({ id: node.key, ...(node.description !== undefined && { description: node.description }) });
    const delays = new Map<string, string>();
    for (const after of node.after) delays.set(after.eventType, typeof after.delay === 'string' ? after.delay : `${String(after.delay)} ms`);
    const push = (kind: TransitionKind, event: string, label: string, definition: { target?: ReadonlyArray<AnyStateNode> | undefined; guard?: unknown; reenter?: boolean }, delay?: string) => {
      for (const target of definition.target ?? []) {
        const guard = guardName(definition.guard);
        transitions.push({
          from: node.key,
          to: target.key,
          kind,
          label,
          event,
          ...(guard !== undefined && { guard }),
          ...(delay !== undefined && { delay }),
          ...(definition.reenter === true && { reenter: true }),
        });
      }
    };
    for (const definition of node.always ?? []) push('always', '', 'always', definition);
    for (const [event, definitions] of node.transitions) {
      for (const definition of definitions) {
        const delay = delays.get(event);
        if (delay !== undefined) push('after', event, `after ${delay}`, definition, delay);
        else if (event.startsWith('xstate.done.actor.')) push('done', event, `done ${invokeSource(node, event)}`, definition);
        else if (event.startsWith('xstate.error.actor.')) push('error', event, `error ${invokeSource(node, event)}`, definition);
        else push('event', event, event, definition);
      }
    }
  }
  const initial = (root.config.initial as string | undefined) ?? states[0]?.id ?? '';
  return { id: root.id, initial, states, transitions };
}

function labelWithGuard(t: GraphTransition): string {
  return t.guard ? `${t.label} [${t.guard}]` : t.label;
}

/** Mermaid `stateDiagram-v2`. */
export function toMermaid(graph: MachineGraph): string {
  const lines = ['stateDiagram-v2', `  [*] --> ${graph.initial}`];
  for (const t of graph.transitions) lines.push(`  ${t.from} --> ${t.to} : ${labelWithGuard(t).replace(/:/g, ' ')}`);
  return `${lines.join('\n')}\n`;
}

function dotId(text: string): string {
  return `"${text.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Graphviz DOT. */
export function toDot(graph: MachineGraph): string {
  const lines = [
    `digraph ${dotId(graph.id)} {`,
    '  rankdir=LR;',
    '  node [shape=box, style=rounded];',
    '  __start [shape=point, label=""];',
    `  __start -> ${dotId(graph.initial)};`,
  ];
  for (const s of graph.states) lines.push(`  ${dotId(s.id)};`);
  for (const t of graph.transitions) {
    const style = t.kind === 'after' || t.kind === 'always' ? ', style=dashed' : '';
    lines.push(`  ${dotId(t.from)} -> ${dotId(t.to)} [label=${dotId(labelWithGuard(t))}${style}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
