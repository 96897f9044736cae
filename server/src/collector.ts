import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BadRequestException, INestApplication, INestApplicationContext, ValidationError, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions, Transport } from '@nestjs/microservices';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import * as grpc from '@grpc/grpc-js';
import { AppModule } from './app.module';
import { CollectorConfig, parseListenAddress } from './config/collector-config';
import type { CoreResources } from './core/core.module';
import { openDatabase } from './database/data-source.factory';
import { DatabaseService } from './database/database.service';
import { JsonLogger } from './logging/json-logger';
import { AdminAuthService } from './modules/admin-auth/admin-auth.service';
import { addStandardGrpcServices } from './modules/health/grpc-standard-services';
import { httpMetricsMiddleware } from './modules/metrics/http-metrics.middleware';
import { MetricsService } from './modules/metrics/metrics.service';
import { PkiService } from './modules/pki/pki.service';
import { ServerCertificateProvider } from './modules/pki/server-certificate-provider';

/** proto/ at the repository root, from dist/server/src (compiled) or server/src (source). */
export function protoRoot(): string {
  for (const candidate of [join(__dirname, '../../../proto'), join(__dirname, '../../proto')]) {
    if (existsSync(join(candidate, 'mamori/v1/telemetry.proto'))) return candidate;
  }
  throw new Error(`cannot find proto/mamori/v1 next to ${__dirname}`);
}

export const PROTO_FILES = ['mamori/v1/enrollment.proto', 'mamori/v1/telemetry.proto', 'mamori/v1/policy.proto', 'mamori/v1/uninstall.proto', 'mamori/v1/certificate.proto', 'mamori/v1/release.proto'];

/** Opens the database (applying migrations) and the trust material. */
export async function openCore(config: CollectorConfig, logger: JsonLogger): Promise<CoreResources> {
  const { dataSource, applied } = await openDatabase(config);
  if (applied.length > 0) logger.emitFields('info', 'database migrated', { migrations: applied });
  try {
    const pki = await PkiService.open(config, (msg, fields) => logger.emitFields('info', msg, fields));
    return { config, logger, database: new DatabaseService(dataSource), pki };
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
}

/** A Nest context without listeners, for CLI commands that use the same services. */
export async function openCollectorContext(core: CoreResources): Promise<INestApplicationContext> {
  return NestFactory.createApplicationContext(AppModule.register(core), { logger: core.logger, abortOnError: false });
}

/**
 * gRPC server keepalive. An agent whose laptop sleeps, roams or loses its network leaves a
 * half-open TCP connection: no FIN or RST ever arrives, so without pings of its own the server
 * keeps that agent's WatchPolicy stream (and its revocation re-check timer) for hours, until the
 * kernel's TCP keepalive (2 h plus probes) gives up. The server pings every 60 s and drops the
 * connection when a ping is not answered within 20 s, so such a stream ends within ~80 s and
 * the agent re-opens it when it is back. The ping policing settings (permit pings without calls,
 * a 30 s minimum interval, two strikes) allow the agent's own 60 s pings
 * (agent/src/transport/grpc-clients.ts) with room to spare; grpc-js 1.14 does not police client
 * pings yet, but a server that does (C-core, a proxy configured alike) must not GOAWAY agents.
 */
export const GRPC_SERVER_KEEPALIVE = {
  keepaliveTimeMs: 60_000,
  keepaliveTimeoutMs: 20_000,
  keepalivePermitWithoutCalls: 1,
  http2MinPingIntervalWithoutDataMs: 30_000,
  http2MaxPingStrikes: 2,
};

/** Overrides for tests that cannot wait for production intervals. */
export interface CollectorStartOptions {
  grpcKeepalive?: Partial<typeof GRPC_SERVER_KEEPALIVE>;
}

export interface RunningCollector {
  app: INestApplication;
  core: CoreResources;
  grpcAddress: string;
  httpAddress: string;
  /** The administrator token generated at this start (first start only), else null. */
  generatedAdminToken: string | null;
  close(): Promise<void>;
}

/** Starts REST and gRPC in one process and logs "mamori-server ready" once both listen. */
export async function startCollector(config: CollectorConfig, logger: JsonLogger, options: CollectorStartOptions = {}): Promise<RunningCollector> {
  const core = await openCore(config, logger);
  let app: INestApplication | undefined;
  try {
    app = await NestFactory.create(AppModule.register(core), { logger, abortOnError: false });
    const provider = new ServerCertificateProvider(core.pki.servedChainPem, core.pki.serverKeyPem, core.pki.trustBundlePem);
    app.connectMicroservice<MicroserviceOptions>({
      transport: Transport.GRPC,
      options: {
        package: 'mamori.v1',
        protoPath: PROTO_FILES,
        url: config.grpcAddress,
        // Client certificates are requested, never required: Enroll is called without one,
        // and every other handler checks the verified peer certificate itself.
        credentials: grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false),
        maxReceiveMessageLength: config.grpcMaxMessageBytes,
        keepalive: { ...GRPC_SERVER_KEEPALIVE, ...options.grpcKeepalive },
        gracefulShutdown: true,
        loader: { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoRoot()] },
        onLoadPackageDefinition: (pkg, server) => addStandardGrpcServices(pkg, server),
      },
    });
    // Before any route is registered (that happens at listen), so every request is timed.
    app.use(httpMetricsMiddleware(app.get(MetricsService)));
    app.useGlobalPipes(
      new ValidationPipe({
        transform: true,
        whitelist: true,
        forbidNonWhitelisted: true,
        exceptionFactory: (errors) => new BadRequestException(validationMessage(errors)),
      }),
    );
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('mamori collector')
        .setDescription('Violations, agents, the USB register, enrollment tokens and policy of a mamori installation.')
        .setVersion('v1')
        .addBearerAuth()
        // The console's sign-in session (POST /api/v1/auth/login sets it; send X-CSRF-Token on changes).
        .addCookieAuth('mamori_session')
        .build(),
    );
    SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/docs-json' });

    await app.startAllMicroservices();
    const http = parseListenAddress(config.httpAddress);
    if (http === null) throw new Error(`MAMORI_HTTP_ADDRESS: "${config.httpAddress}" is not host:port`);
    await app.listen(http.port, http.host);
    // Only now, with both ports bound, is a first-start token made: made earlier, a start that
    // fails on a busy port would store its hash and exit without ever printing it.
    const generatedAdminToken = await app.get(AdminAuthService).createIfNone();
    logger.emitFields('info', 'mamori-server ready', {
      grpcAddress: config.grpcAddress,
      httpAddress: config.httpAddress,
      database: core.database.kind,
      caPin: core.pki.caPin,
    });
    const started = app;
    let closing: Promise<void> | null = null;
    return {
      app: started,
      core,
      grpcAddress: config.grpcAddress,
      httpAddress: config.httpAddress,
      generatedAdminToken,
      close: () => {
        closing ??= (async () => {
          try {
            await started.close();
          } finally {
            await core.database.dataSource.destroy();
          }
        })();
        return closing;
      },
    };
  } catch (error) {
    await app?.close().catch(() => undefined);
    await core.database.dataSource.destroy().catch(() => undefined);
    throw error;
  }
}

/** One sentence that names every rejected field, e.g. "vendorId must be 4 hex digits; serial must be a string". */
function validationMessage(errors: ValidationError[], parent = ''): string {
  const messages: string[] = [];
  for (const error of errors) {
    const path = parent === '' ? error.property : `${parent}.${error.property}`;
    for (const message of Object.values(error.constraints ?? {})) {
      messages.push(message.startsWith(error.property) ? `${path}${message.slice(error.property.length)}` : `${path}: ${message}`);
    }
    if (error.children !== undefined && error.children.length > 0) messages.push(validationMessage(error.children, path));
  }
  return messages.join('; ');
}
