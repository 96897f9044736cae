import { connect, constants } from 'node:http2';

/** What a raw gRPC call got back: the gRPC status and message from the trailers (or headers). */
export interface RawGrpcResult {
  httpStatus: number;
  grpcStatus: number | null;
  grpcMessage: string;
}

/**
 * Sends `body` as the request of a gRPC method over HTTP/2 + TLS without any gRPC library,
 * so the tests can send what no well-behaved client would: garbage, lying length prefixes,
 * oversized frames.
 */
export function rawGrpcCall(
  address: string,
  path: string,
  body: Buffer,
  tls: { caPem: string; certPem?: string; privateKeyPem?: string },
): Promise<RawGrpcResult> {
  return new Promise((resolve, reject) => {
    const session = connect(`https://${address}`, {
      ca: tls.caPem,
      cert: tls.certPem,
      key: tls.privateKeyPem,
      servername: 'localhost',
    });
    session.once('error', reject);
    const request = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: path,
      [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
    });
    let httpStatus = 0;
    let grpcStatus: number | null = null;
    let grpcMessage = '';
    const take = (headers: Record<string, unknown>) => {
      if (headers[':status'] !== undefined) httpStatus = Number(headers[':status']);
      if (headers['grpc-status'] !== undefined) grpcStatus = Number(headers['grpc-status']);
      if (headers['grpc-message'] !== undefined) grpcMessage = decodeURIComponent(String(headers['grpc-message']));
    };
    request.on('response', take);
    request.on('trailers', take);
    request.on('data', () => undefined);
    request.once('error', (error) => {
      session.close();
      reject(error);
    });
    request.once('close', () => {
      session.close();
      resolve({ httpStatus, grpcStatus, grpcMessage });
    });
    request.setTimeout(20_000, () => request.close(constants.NGHTTP2_CANCEL));
    // Written in slices: a multi-megabyte body must respect HTTP/2 flow control.
    const slice = 64 * 1024;
    let offset = 0;
    const writeMore = () => {
      while (offset < body.length) {
        const end = Math.min(body.length, offset + slice);
        const ok = request.write(body.subarray(offset, end));
        offset = end;
        if (!ok) {
          request.once('drain', writeMore);
          return;
        }
      }
      request.end();
    };
    writeMore();
  });
}

/** A gRPC length-prefixed message frame: flag byte, 4-byte big-endian length, payload. */
export function grpcFrame(payload: Buffer, declaredLength = payload.length, compressed = false): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(compressed ? 1 : 0, 0);
  header.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([header, payload]);
}
