import { Module } from '@nestjs/common';
import { ViolationFeed } from './violation-feed.service';
import { ViolationsController } from './violations.controller';
import { ViolationsService } from './violations.service';

@Module({
  providers: [ViolationsService, ViolationFeed],
  controllers: [ViolationsController],
  exports: [ViolationsService, ViolationFeed],
})
export class ViolationsModule {}
