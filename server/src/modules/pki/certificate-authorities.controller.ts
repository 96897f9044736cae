import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';
import { CaRotationService, type CaRotationStatus } from './ca-rotation.service';

class AuthorityStatusView {
  @ApiProperty({ enum: ['signing', 'next', 'previous', 'trusted'] }) role!: string;
  @ApiProperty({ description: 'unpadded base64url SHA-256 of the DER, as enrollment tokens pin it' }) pin!: string;
  @ApiProperty() subject!: string;
  @ApiProperty() notAfter!: string;
  @ApiProperty({ description: 'the file it was read from' }) source!: string;
}

class AgentCaStatusView {
  @ApiProperty() id!: string;
  @ApiProperty() hostname!: string;
  @ApiProperty({ nullable: true, type: String }) lastSeenAt!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'pin of the CA that issued its current certificate; null until it reported' }) certificateIssuer!: string | null;
  @ApiProperty({ nullable: true, type: [String], description: 'pins of the CAs it trusts; null when it never reported them' }) trustedCaPins!: string[] | null;
}

class AgentsCaStatusView {
  @ApiProperty() enrolled!: number;
  @ApiProperty() trustingEveryCa!: number;
  @ApiProperty() onSigningCa!: number;
  @ApiProperty({ type: [AgentCaStatusView], description: 'agents holding up the next step, at most 100' }) notReady!: AgentCaStatusView[];
  @ApiProperty() notReadyCount!: number;
}

class CaRotationStatusView implements CaRotationStatus {
  @ApiProperty({ enum: ['steady', 'introduced', 'switched', 'trusting'] }) stage!: CaRotationStatus['stage'];
  @ApiProperty({ type: [AuthorityStatusView], description: 'the signing CA first' }) authorities!: CaRotationStatus['authorities'];
  @ApiProperty({ type: AgentsCaStatusView }) agents!: CaRotationStatus['agents'];
  @ApiProperty() nextStep!: string;
}

/** REST: the collector's CAs and the agents' progress through a CA rotation (README "Rotating the collector CA"). */
@ApiTags('certificate-authorities')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/certificate-authorities')
export class CertificateAuthoritiesController {
  constructor(private readonly rotation: CaRotationService) {}

  @Get()
  @Roles(...READERS, 'it')
  @ApiOperation({ summary: 'the trusted CAs and how far enrolled agents are in a CA rotation (as `mamori-server ca status`); the steps themselves are CLI commands on the collector host' })
  @ApiOkResponse({ type: CaRotationStatusView })
  status(): Promise<CaRotationStatus> {
    return this.rotation.status();
  }
}
