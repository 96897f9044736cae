import { Global, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { AuditContextMiddleware } from './audit-context.middleware';
import { AuditController } from './audit.controller';
import { AuditService } from './audit.service';

/** The audit log; global so every module that changes things can append without importing it. */
@Global()
@Module({
  providers: [AuditService],
  controllers: [AuditController],
  exports: [AuditService],
})
export class AuditModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(AuditContextMiddleware).forRoutes('*');
  }
}
