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
    try {
      await this.database.query('SELECT 1');
    } catch (error) {
      throw new ServiceUnavailableException(`database does not answer: ${(error as Error).message}`);
    }
    return { status: 'ok', database: this.database.kind };
  }
}
