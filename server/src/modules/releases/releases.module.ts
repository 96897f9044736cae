import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { PolicyModule } from '../policy/policy.module';
import { ReleaseGrpcController } from './release.grpc.controller';
import { ReleasesController } from './releases.controller';
import { ReleasesService } from './releases.service';

/** Agent upgrades: the release register, the fleet's target version, and the bundle download. */
@Module({
  imports: [AgentsModule, PolicyModule],
  providers: [ReleasesService],
  controllers: [ReleasesController, ReleaseGrpcController],
  exports: [ReleasesService],
})
export class ReleasesModule {}
