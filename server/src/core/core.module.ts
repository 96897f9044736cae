import { DynamicModule, Global, Module } from '@nestjs/common';
import type { CollectorConfig } from '../config/collector-config';
import { COLLECTOR_CONFIG } from '../config/collector-config.token';
import { DatabaseService } from '../database/database.service';
import { JsonLogger } from '../logging/json-logger';
import { PkiService } from '../modules/pki/pki.service';

/** What is opened before Nest starts (configuration, logger, database, trust material). */
export interface CoreResources {
  config: CollectorConfig;
  logger: JsonLogger;
  database: DatabaseService;
  pki: PkiService;
}

/** Makes the already-opened core resources injectable everywhere. */
@Global()
@Module({})
export class CoreModule {
  static register(resources: CoreResources): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: COLLECTOR_CONFIG, useValue: resources.config },
        { provide: JsonLogger, useValue: resources.logger },
        { provide: DatabaseService, useValue: resources.database },
        { provide: PkiService, useValue: resources.pki },
      ],
      exports: [COLLECTOR_CONFIG, JsonLogger, DatabaseService, PkiService],
    };
  }
}
