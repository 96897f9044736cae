import { DynamicModule, Module } from '@nestjs/common';
import { CoreModule, CoreResources } from './core/core.module';
import { AdminAuthModule } from './modules/admin-auth/admin-auth.module';
import { AgentsModule } from './modules/agents/agents.module';
import { AuditModule } from './modules/audit/audit.module';
import { AuthModule } from './modules/auth/auth.module';
import { ConsoleModule } from './modules/console/console.module';
import { EnrollmentModule } from './modules/enrollment/enrollment.module';
import { HealthModule } from './modules/health/health.module';
import { IngestModule } from './modules/ingest/ingest.module';
import { LedgerModule } from './modules/ledger/ledger.module';
import { MetricsModule } from './modules/metrics/metrics.module';
import { NetworkModule } from './modules/network/network.module';
import { PkiModule } from './modules/pki/pki.module';
import { PolicyModule } from './modules/policy/policy.module';
import { ReleasesModule } from './modules/releases/releases.module';
import { TransfersModule } from './modules/transfers/transfers.module';
import { UsbExceptionsModule } from './modules/usb-exceptions/usb-exceptions.module';
import { UsbRegisterModule } from './modules/usb-register/usb-register.module';
import { ViolationsModule } from './modules/violations/violations.module';

/** The collector: every bounded context over the shared core resources. */
@Module({})
export class AppModule {
  static register(resources: CoreResources): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.register(resources),
        AdminAuthModule,
        AuditModule,
        AuthModule,
        AgentsModule,
        EnrollmentModule,
        HealthModule,
        IngestModule,
        LedgerModule,
        MetricsModule,
        NetworkModule,
        PkiModule,
        PolicyModule,
        ReleasesModule,
        TransfersModule,
        UsbExceptionsModule,
        UsbRegisterModule,
        ViolationsModule,
        // Last: the console's catch-all GET answers only what no REST route did.
        ConsoleModule,
      ],
    };
  }
}
