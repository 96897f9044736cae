import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { PolicyController } from './policy.controller';
import { PolicyGrpcController } from './policy.grpc.controller';
import { PolicyService } from './policy.service';
import { PolicyVersionsController } from './policy-versions.controller';
import { PolicyVersionsService } from './policy-versions.service';
import { TransferPolicySettingsService } from './transfer-policy-settings.service';
import { UsbPolicySettingsService } from './usb-policy-settings.service';

/** Immutable policy versions, served over REST and mamori.v1.PolicyService. */
@Module({
  imports: [AgentsModule],
  providers: [PolicyService, UsbPolicySettingsService, TransferPolicySettingsService, PolicyVersionsService],
  controllers: [PolicyController, PolicyVersionsController, PolicyGrpcController],
  exports: [PolicyService, UsbPolicySettingsService, TransferPolicySettingsService],
})
export class PolicyModule {}
