import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ViolationFeed } from './violation-feed.service';
import { ViolationsController } from './violations.controller';
import { ViolationsService } from './violations.service';

@Module({
  imports: [AuthModule],
  providers: [ViolationsService, ViolationFeed],
  controllers: [ViolationsController],
  exports: [ViolationsService, ViolationFeed],
})
export class ViolationsModule {}
