import { Module } from '@nestjs/common';
import { ConsoleController } from './console.controller';

/** Serves the built console (server/console, built to dist/console). Registered last: its catch-all GET only answers what no REST route did. */
@Module({ controllers: [ConsoleController] })
export class ConsoleModule {}
