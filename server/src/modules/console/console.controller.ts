import { Controller, Get, Inject, Next, OnModuleInit, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { CollectorConfig } from '../../config/collector-config';
import { COLLECTOR_CONFIG } from '../../config/collector-config.token';
import { JsonLogger } from '../../logging/json-logger';
import { Public } from '../admin-auth/public.decorator';
import { CONSOLE_CSP, consoleAnswer, consoleDirectory, notBuiltMessage } from './console-files';

/** The parts of Express's request and response used here (the project has no @types/express). */
interface ConsoleRequest {
  path: string;
}
interface ConsoleResponse {
  headersSent: boolean;
  setHeader(name: string, value: string): ConsoleResponse;
  status(code: number): ConsoleResponse;
  type(contentType: string): ConsoleResponse;
  send(body: string): ConsoleResponse;
  sendFile(path: string, options: { cacheControl: boolean; dotfiles: 'allow' }, done: (error?: Error) => void): void;
}

/**
 * The console: the built single-page app at / with index.html for every client route. Public,
 * since the files carry no data; every API call the app makes is authorized on its own. Any
 * /api/* path passes on to the REST routes (and their JSON 404).
 */
@ApiExcludeController()
@Public()
@Controller()
export class ConsoleController implements OnModuleInit {
  private readonly dir: string;

  constructor(
    @Inject(COLLECTOR_CONFIG) config: CollectorConfig,
    private readonly logger: JsonLogger,
  ) {
    this.dir = consoleDirectory(config.consoleDir);
  }

  onModuleInit(): void {
    const answer = consoleAnswer(this.dir, '/');
    if (answer.kind === 'not-built') {
      this.logger.emitFields('warn', 'console not built: the collector answers 503 at / until it is', { consoleDir: this.dir, missing: answer.indexFile });
    }
  }

  @Get('{*path}')
  serve(@Req() request: ConsoleRequest, @Res() response: ConsoleResponse, @Next() next: () => void): void {
    const answer = consoleAnswer(this.dir, request.path);
    if (answer.kind === 'pass') {
      next();
      return;
    }
    response.setHeader('Content-Security-Policy', CONSOLE_CSP);
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.setHeader('Referrer-Policy', 'no-referrer');
    response.setHeader('X-Frame-Options', 'DENY');
    if (answer.kind === 'not-built') {
      response.status(503).setHeader('Cache-Control', 'no-store');
      response.type('text/plain; charset=utf-8').send(notBuiltMessage(answer.indexFile));
      return;
    }
    if (answer.kind === 'missing-file') {
      response.status(404).setHeader('Cache-Control', 'no-cache');
      response.type('text/plain; charset=utf-8').send(`No console file at ${answer.urlPath}\n`);
      return;
    }
    response.setHeader('Cache-Control', answer.cacheControl);
    response.sendFile(answer.file, { cacheControl: false, dotfiles: 'allow' }, (error?: Error) => {
      if (error && !response.headersSent) {
        response.status(500).type('text/plain; charset=utf-8').send(`Could not read ${answer.file}: ${error.message}\n`);
      }
    });
  }
}
