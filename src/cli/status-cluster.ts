import { adminCall } from '../admin/client.js';
import type { ClusterView } from '../cluster/main.js';
import { MailtokendError } from '../errors.js';
import type { AccountStatus } from '../host/messages.js';

/** A status row with the cluster's view of the account (PostgreSQL store only). */
export type ClusterStatus = AccountStatus & { refreshedBy?: string; refreshedAt?: number; leaseHolder?: string };

/** The daemon's `cluster` answer; undefined from a daemon that predates it. */
export async function clusterView(adminSocket: string): Promise<ClusterView | undefined> {
  try {
    return await adminCall<ClusterView>(adminSocket, { cmd: 'cluster' });
  } catch (error) {
    if (error instanceof MailtokendError && error.code === 'admin-unknown-command') return undefined;
    throw error;
  }
}

/** Adds who last refreshed each account (and who holds its lease now), from the database. */
export function withCluster(rows: AccountStatus[], view: ClusterView | undefined): ClusterStatus[] {
  if (view?.backend !== 'postgres') return rows;
  const byUser = new Map(view.accounts.map((a) => [a.user, a]));
  return rows.map((r) => {
    const c = byUser.get(r.key);
    return c ? { ...r, ...(c.refreshedBy && { refreshedBy: c.refreshedBy }), ...(c.refreshedAt && { refreshedAt: c.refreshedAt }), ...(c.leaseHolder && { leaseHolder: c.leaseHolder }) } : r;
  });
}

/** One line above the table: this instance and the database it shares. */
export function clusterHeader(view: ClusterView | undefined): string {
  if (view?.backend !== 'postgres') return '';
  const db = view.reachable ? 'PostgreSQL reachable' : `PostgreSQL UNREACHABLE (${view.error ?? 'no answer'}): serving tokens held in memory`;
  return `instance ${view.instance} · ${db} · lease ${Math.round((view.leaseMs ?? 0) / 1000)}s\n`;
}
