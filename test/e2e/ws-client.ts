// A websocket client for the e2e cutover test, on a raw socket: the handshake
// needs a Host header (the route matches node-hello.localhost while the socket
// goes to caddy's loopback port), which a WebSocket API client cannot set. It
// only reads: unmasked server text frames (under 126 bytes) and the close frame.

import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface WsMessage {
  /** Epoch ms it arrived. */
  at: number;
  text: string;
}

export interface WsClient {
  messages: WsMessage[];
  /** Resolves once the handshake answered 101. */
  opened: Promise<void>;
  /** Resolves when the stream ends: a close frame (code), or the socket closing without one. */
  closed: Promise<{ at: number; code: number | null }>;
  close(): void;
}

export function openWs(httpAddr: string, host: string, path = '/ws'): WsClient {
  const [address, port] = [httpAddr.slice(0, httpAddr.lastIndexOf(':')), Number(httpAddr.slice(httpAddr.lastIndexOf(':') + 1))];
  const socket: Socket = connect({ host: address, port });
  const messages: WsMessage[] = [];
  let buffer = Buffer.alloc(0);
  let upgraded = false;
  let code: number | null = null;
  let resolveOpened!: () => void;
  let rejectOpened!: (error: Error) => void;
  const opened = new Promise<void>((resolve, reject) => {
    resolveOpened = resolve;
    rejectOpened = reject;
  });
  const closed = new Promise<{ at: number; code: number | null }>((resolve) => {
    socket.on('close', () => {
      if (!upgraded) rejectOpened(new Error('websocket closed before the handshake answered'));
      resolve({ at: Date.now(), code });
    });
  });
  socket.on('error', () => undefined);
  socket.on('connect', () => {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    if (!upgraded) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffer.subarray(0, end).toString('latin1');
      buffer = buffer.subarray(end + 4);
      if (!/^HTTP\/1\.1 101 /.test(head)) {
        rejectOpened(new Error(`websocket handshake refused: ${head.split('\r\n')[0]}`));
        socket.destroy();
        return;
      }
      upgraded = true;
      resolveOpened();
    }
    while (buffer.length >= 2) {
      const opcode = buffer[0]! & 0x0f;
      const length = buffer[1]! & 0x7f;
      if (length >= 126 || buffer.length < 2 + length) return;
      const payload = buffer.subarray(2, 2 + length);
      buffer = buffer.subarray(2 + length);
      if (opcode === 0x1) messages.push({ at: Date.now(), text: payload.toString('utf8') });
      if (opcode === 0x8) {
        code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
        socket.end();
      }
    }
  });
  return { messages, opened, closed, close: () => socket.destroy() };
}
