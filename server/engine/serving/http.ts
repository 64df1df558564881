// Small HTTP helpers of the model server: reading a body with a size limit, answering JSON or text,
// and the bearer token check.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Raised when a body is larger than allowed (answered 413). */
export class BodyTooLarge extends Error {}

/** Raised when the client closed the connection before its body ended (nobody to answer). */
export class ClientGone extends Error {}

/** The request body, at most `limit` bytes. */
export function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLarge(`The request body is larger than ${limit} bytes.`));
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    let ended = false;
    request.on('end', () => {
      ended = true;
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    // A request stream fails only when its connection does: nobody is left to answer.
    request.on('error', (error) => reject(new ClientGone(`The client connection failed: ${error.message}`)));
    // A client that goes away mid-body sends no 'end': without this its concurrency slot would leak.
    request.on('close', () => {
      if (!ended) reject(new ClientGone('The client closed the connection before the body ended.'));
    });
  });
}

/** Sends `text` with a status, a content type and extra headers. */
export function send(
  response: ServerResponse,
  status: number,
  text: string,
  contentType = 'application/json',
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { ...headers, 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/** Whether the Authorization header carries the bearer token (compared in constant time). */
export function hasToken(request: IncomingMessage, token: Buffer): boolean {
  const header = request.headers.authorization;
  // The scheme is case-insensitive (RFC 9110, section 11.1), as the admin API already treats it.
  const match = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header) : null;
  if (!match?.[1]) return false;
  const given = Buffer.from(match[1].trim());
  return given.length === token.length && timingSafeEqual(given, token);
}
