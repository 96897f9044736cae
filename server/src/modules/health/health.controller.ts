import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { DatabaseService } from '../../database/database.service';
import { Public } from '../admin-auth/public.decorator';

class HealthView {
  @ApiProperty({ example: 'ok' }) status!: string;
  @ApiProperty({ enum: ['sqlite', 'postgres'] }) database!: string;
}

/** REST liveness for load balancers and scripts; no token needed. */
@ApiTags('health')
@Controller('api/v1/health')
export class HealthController {
  constructor(private readonly database: DatabaseService) {}

  @Public()
  @Get()
  @ApiOkResponse({ type: HealthView })
  @ApiServiceUnavailableResponse({ description: 'the database does not answer' })
  async health(): Promise<HealthView> {
    return databaseHealth(this.database);
  }
}

/**
 * `GET /healthz`, the conventional path for container and orchestrator probes (the image's
 * HEALTHCHECK, Kubernetes readiness): the same check as /api/v1/health, outside the versioned
 * API so probe configurations do not change with it.
 */
@ApiTags('health')
@Controller()
export class HealthzController {
  constructor(private readonly database: DatabaseService) {}

  @Public()
  @Get('healthz')
  @ApiOkResponse({ type: HealthView })
  @ApiServiceUnavailableResponse({ description: 'the database does not answer; the message says why' })
  async healthz(): Promise<HealthView> {
    return databaseHealth(this.database);
  }
}

async function databaseHealth(database: DatabaseService): Promise<HealthView> {
  try {
    await database.query('SELECT 1');
  } catch (error) {
    throw new ServiceUnavailableException(`database does not answer: ${(error as Error).message}`);
  }
  return { status: 'ok', database: database.kind };
}
