import { Controller, UseInterceptors } from '@nestjs/common';
import type { Metadata, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { defer, endWith, filter, from, ignoreElements, interval, map, merge, mergeMap, Observable, share, switchMap, takeUntil, throwError } from 'rxjs';
import { GrpcMetricsInterceptor } from '../metrics/grpc-metrics.interceptor';
import { unauthenticated } from '../../common/grpc-errors';
import {
  GetPolicyRequest,
  GetPolicyResponse,
  PolicyServiceController,
  PolicyServiceControllerMethods,
  WatchPolicyRequest,
  WatchPolicyResponse,
} from '../../generated/mamori/v1/policy';
import { AGENT_STATUS_CACHE_MS, AgentAuthenticator } from '../agents/agent-authenticator';
import { AgentsService } from '../agents/agents.service';
import { PolicyService } from './policy.service';

/** gRPC adapter for mamori.v1.PolicyService. */
@Controller()
@UseInterceptors(GrpcMetricsInterceptor)
@PolicyServiceControllerMethods()
export class PolicyGrpcController implements PolicyServiceController {
  constructor(
    private readonly policy: PolicyService,
    private readonly authenticator: AgentAuthenticator,
    private readonly agents: AgentsService,
  ) {}

  async getPolicy(request: GetPolicyRequest, _metadata?: Metadata, call?: ServerUnaryCall<unknown, unknown>): Promise<GetPolicyResponse> {
    await this.authenticator.authenticate(call);
    const current = this.policy.current();
    if (this.policy.isCurrent(String(request.knownVersion ?? ''), request.knownLineageId ?? '')) return { unchanged: true, policy: undefined };
    return { unchanged: false, policy: this.policy.toProto(current) };
  }

  /**
   * Returns an Observable rather than awaiting (an async streaming handler hangs in Nest).
   * The stream ends with UNAUTHENTICATED as soon as the agent is revoked: at once for a
   * revocation in this process, within the status cache time for one made by the CLI.
   */
  watchPolicy(request: WatchPolicyRequest, _metadata?: Metadata, call?: ServerWritableStream<unknown, unknown>): Observable<WatchPolicyResponse> {
    return defer(() => from(this.authenticator.authenticate(call))).pipe(
      switchMap((agent) => {
        const policies = this.policy
          .watch(Number(request.knownVersion), request.knownLineageId ?? '')
          .pipe(map((policy) => ({ policy: this.policy.toProto(policy) })), share());
        // When the policy feed completes (shutdown) the revocation watchers must stop too.
        const ended = policies.pipe(ignoreElements(), endWith(true));
        const revokedHere = this.agents.revoked$.pipe(
          filter((agentId) => agentId === agent.agentId),
          mergeMap(() => throwError(() => unauthenticated(`agent ${agent.agentId} has been revoked`))),
          takeUntil(ended),
        );
        const recheck = interval(AGENT_STATUS_CACHE_MS).pipe(
          mergeMap(() => from(this.authenticator.authenticate(call))),
          filter((): boolean => false),
          takeUntil(ended),
        );
        return merge(policies, revokedHere, recheck) as Observable<WatchPolicyResponse>;
      }),
    );
  }
}
