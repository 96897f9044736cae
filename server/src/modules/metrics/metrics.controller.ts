import { Controller, Get, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { ServerResponse } from 'node:http';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';
import { MetricsService } from './metrics.service';

/**
 * `GET /metrics` for Prometheus, on the REST port behind the same credential check as every
 * other route: a scraper authenticates with a personal API token (e.g. of a user holding only
 * `auditor`) sent as a bearer token. No second listener to secure, and the numbers (fleet size,
 * violation counts by rule) are not handed to whoever can reach the port.
 */
@ApiTags('metrics')
@ApiBearerAuth()
@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get('metrics')
  @Roles(...READERS)
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text exposition format 0.0.4' })
  @ApiRoleForbiddenResponse()
  async scrape(@Res() response: ServerResponse): Promise<void> {
    const { contentType, body } = await this.metrics.render();
    response.statusCode = 200;
    response.setHeader('Content-Type', contentType);
    response.setHeader('Cache-Control', 'no-store');
    response.end(body);
  }
}
