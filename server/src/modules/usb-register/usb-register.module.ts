import { Module } from '@nestjs/common';
import { PolicyModule } from '../policy/policy.module';
import { UsbRegisterController } from './usb-register.controller';
import { UsbRegisterService } from './usb-register.service';

@Module({
  imports: [PolicyModule],
  providers: [UsbRegisterService],
  controllers: [UsbRegisterController],
  exports: [UsbRegisterService],
})
export class UsbRegisterModule {}
