import { Module } from '@nestjs/common';
import { PolicyModule } from '../policy/policy.module';
import { UsbExceptionExpiryScheduler } from './usb-exception-expiry.scheduler';
import { UsbExceptionsController } from './usb-exceptions.controller';
import { UsbExceptionsService } from './usb-exceptions.service';

/** Time-boxed USB exceptions: the request and approval workflow, and their timely end. */
@Module({
  imports: [PolicyModule],
  providers: [UsbExceptionsService, UsbExceptionExpiryScheduler],
  controllers: [UsbExceptionsController],
  exports: [UsbExceptionsService],
})
export class UsbExceptionsModule {}
