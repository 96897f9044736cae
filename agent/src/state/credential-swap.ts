import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from './atomic-file';
import type { StatePaths } from './state-dir';

/**
 * A renewal's files before they replace agent.key and agent.crt. The new key is written before
 * the collector is asked (it must never exist only in memory once a certificate names it), the
 * new certificate as soon as it arrives, then both are renamed into place.
 */
export function pendingRenewalPaths(paths: StatePaths): { key: string; certificate: string } {
  return { key: join(paths.root, 'renewal.key'), certificate: join(paths.root, 'renewal.crt') };
}

/** True when `certificatePem` certifies the public half of `privateKeyPem`. */
export function certificateMatchesKey(certificatePem: string, privateKeyPem: string): boolean {
  try {
    return new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(privateKeyPem));
  } catch {
    return false;
  }
}

async function readIfPresent(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Removes a renewal's pending files (a new enrollment replaces the identity they belonged to). */
export async function dropPendingRenewal(paths: StatePaths): Promise<void> {
  const pending = pendingRenewalPaths(paths);
  await unlink(pending.certificate).catch(() => undefined);
  await unlink(pending.key).catch(() => undefined);
}

/** Stores the renewal's key before the collector is asked to certify it. */
export async function storePendingKey(paths: StatePaths, privateKeyPem: string): Promise<void> {
  await writeFileAtomic(pendingRenewalPaths(paths).key, privateKeyPem, 0o600);
}

/**
 * Puts a renewed certificate (and the pending key it certifies) in place. Each step is an atomic
 * rename, and completeInterruptedRenewal finishes the set after a crash between them, so the
 * folder never ends with a key and a certificate that do not belong together. A CA bundle that
 * changed is written first: the new certificate may come from a CA the old bundle lacked.
 */
export async function installRenewedCertificate(paths: StatePaths, certificatePem: string, caBundlePem: string | null): Promise<void> {
  const pending = pendingRenewalPaths(paths);
  if (caBundlePem !== null) await writeFileAtomic(paths.caCertificate, caBundlePem, 0o600);
  await writeFileAtomic(pending.certificate, certificatePem, 0o600);
  await rename(pending.key, paths.privateKey);
  await rename(pending.certificate, paths.certificate);
  await fsyncDir(paths.root);
}

/**
 * Run before the credentials are read: completes a renewal a crash interrupted after its
 * certificate was stored, and drops a pending key that never got one (the collector still
 * accepts the current certificate then, so nothing is lost; the next renewal makes a new key).
 * Returns what it did, for the log, or null when there was nothing pending.
 */
export async function completeInterruptedRenewal(paths: StatePaths): Promise<string | null> {
  const pending = pendingRenewalPaths(paths);
  const certificate = await readIfPresent(pending.certificate);
  const pendingKey = await readIfPresent(pending.key);
  if (certificate === null) {
    if (pendingKey === null) return null;
    await unlink(pending.key);
    await fsyncDir(paths.root);
    return 'dropped the key of a renewal that did not finish; the current certificate stays in use';
  }
  const key = pendingKey ?? (await readIfPresent(paths.privateKey));
  if (key !== null && certificateMatchesKey(certificate, key)) {
    if (pendingKey !== null) await rename(pending.key, paths.privateKey);
    await rename(pending.certificate, paths.certificate);
    await fsyncDir(paths.root);
    return 'completed a certificate renewal that was interrupted';
  }
  await unlink(pending.certificate);
  if (pendingKey !== null) await unlink(pending.key);
  await fsyncDir(paths.root);
  return 'dropped a renewed certificate whose key is gone; the current certificate stays in use';
}
