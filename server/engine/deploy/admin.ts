// The admin API of a deployment, on the serving listener under /cairn/v1/: status, promote, rollback,
// stop and reload need the admin token (`.cairn/deployments/NAME/admin.token`, mode 0600); labels
// and business events also accept the serving token (or nothing, when the deployment has none, like
// predictions). Answers are JSON; a refused action is a 409 that says why.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';
import { deploymentDir } from '../monitor/log';
import { FeedbackError } from '../monitor/log';
import { BodyTooLarge, ClientGone, readBody } from '../serving/http';
import { DeploymentActionError } from './deployment';
import { actorOf, describeError } from './versions';
import type { Deployment } from './deployment';

/** Where the admin token of a deployment is kept. */
export function adminTokenPath(root: string, deployment: string): string {
  return path.join(deploymentDir(root, deployment), 'admin.token');
}

/** Writes a fresh admin token (mode 0600) and returns it. */
export function writeAdminToken(root: string, deployment: string): string {
  const file = adminTokenPath(root, deployment);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const token = randomBytes(24).toString('hex');
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(temp, `${token}\n`, { mode: 0o600 });
  fs.chmodSync(temp, 0o600);
  fs.renameSync(temp, file);
  return token;
}

/** The admin token of a deployment, or null when there is none. */
export function readAdminToken(root: string, deployment: string): string | null {
  try {
    return fs.readFileSync(adminTokenPath(root, deployment), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

export interface AdminHooks {
  /** Stops the server process after answering. */
  stop(actor: string): void;
  /** Re-reads the deployment file and applies what changed; resolves with the settings that need a restart. */
  reload(): Promise<string[]>;
}

const MAX_BODY = 64 * 1024 * 1024;

/** The handler of /cairn/v1/* for the serving engine; false for any other path. */
export function adminRoutes(
  deployment: Deployment,
  tokens: { admin: string; serve: string | null },
  hooks: AdminHooks,
): (request: IncomingMessage, response: ServerResponse, url: URL) => Promise<boolean> {
  return async (request, response, url) => {
    if (!url.pathname.startsWith('/cairn/v1/')) return false;
    const route = url.pathname.slice('/cairn/v1/'.length);
    const presented = bearer(request);
    const isAdmin = presented !== null && sameToken(presented, tokens.admin);
    const feedback = route === 'labels' || route === 'events';
    const allowed =
      isAdmin || (feedback && (tokens.serve === null || (presented !== null && sameToken(presented, tokens.serve))));
    if (!allowed) {
      send(response, 401, {
        error: feedback
          ? 'This endpoint needs the serving token or the admin token as a bearer token.'
          : `The admin API needs the admin token (in .cairn/deployments/${deployment.spec.name}/admin.token) as a bearer token.`,
      });
      return true;
    }
    try {
      if (route === 'status') {
        if (request.method === 'GET') send(response, 200, deployment.status());
        else send(response, 405, { error: 'Use GET for /cairn/v1/status.' }, { allow: 'GET' });
        return true;
      }
      if (!POST_ROUTES.has(route)) {
        send(response, 404, {
          error: `No admin route '${route}'. Use status, ${[...POST_ROUTES].join(', ')}.`,
        });
        return true;
      }
      if (request.method !== 'POST') {
        send(response, 405, { error: `Use POST for /cairn/v1/${route}.` }, { allow: 'POST' });
        return true;
      }
      const text = (await readBody(request, MAX_BODY)).toString('utf8');
      if (feedback) {
        const rows = parseFeedback(text);
        const added = deployment.predictionLog.addFeedback(rows, {
          now: Date.now(),
          joinKey: deployment.spec.monitoring.labels?.joinKey ?? 'request_id',
          where: `POST /cairn/v1/${route}`,
        });
        send(response, 200, { accepted: added });
        return true;
      }
      const parsed: unknown = text.trim() ? JSON.parse(text) : {};
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        send(response, 400, { error: 'The body must be a JSON object such as {"reason": "...", "actor": "..."}.' });
        return true;
      }
      const body = parsed as Record<string, unknown>;
      const actor = actorOf(body['actor']);
      const reason = typeof body['reason'] === 'string' ? body['reason'] : null;
      switch (route) {
        case 'promote':
          send(response, 200, await deployment.promote(actor, reason));
          return true;
        case 'rollback':
          send(response, 200, await deployment.rollback(actor, reason));
          return true;
        case 'reload': {
          const restartNeeded = await hooks.reload();
          send(response, 200, { ...deployment.status(), restartNeeded });
          return true;
        }
        case 'stop':
          send(response, 202, { stopping: true });
          hooks.stop(actor);
          return true;
        default:
          throw new Error(`the admin route '${route}' has no handler`);
      }
    } catch (error) {
      // A client that went away mid-body has nobody left to answer.
      if (error instanceof ClientGone) return true;
      if (error instanceof BodyTooLarge)
        send(response, 413, { error: 'The body is larger than 64 MB; send it in parts.' });
      else if (error instanceof DeploymentActionError) send(response, 409, { error: error.message });
      else if (error instanceof FeedbackError || error instanceof SyntaxError)
        send(response, 400, { error: error.message });
      else send(response, 500, { error: describeError(error) });
      return true;
    }
  };
}

/** Rows of a JSON object, a JSON array or JSON Lines. */
function parseFeedback(text: string): Record<string, unknown>[] {
  const trimmed = text.trim();
  if (!trimmed)
    throw new FeedbackError('The body is empty: send {"request_id": ..., "label": ...} or JSON Lines of them.');
  if (trimmed.startsWith('[')) return JSON.parse(trimmed) as Record<string, unknown>[];
  try {
    const single = JSON.parse(trimmed) as unknown;
    if (single && typeof single === 'object' && !Array.isArray(single)) return [single as Record<string, unknown>];
  } catch {
    // Not one document: JSON Lines.
  }
  return trimmed
    .split('\n')
    .filter((line) => line.trim())
    .map((line, index) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch (error) {
        throw new FeedbackError(`line ${index + 1}: not JSON (${describeError(error)}).`);
      }
    });
}

function bearer(request: IncomingMessage): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(.+)$/i.exec(header);
  return match?.[1]?.trim() ?? null;
}

function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The admin routes taken by POST (status is the one GET). */
const POST_ROUTES = new Set(['promote', 'rollback', 'stop', 'reload', 'labels', 'events']);

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}
