import { SetMetadata } from '@nestjs/common';
import type { Role } from './roles';

export const REQUIRED_ROLES = 'mamori:required-roles';

/**
 * The roles that may call a REST route: a caller holding any one of them gets in, any other gets
 * 403 naming them. Every route that is not @Public() must carry this (on the handler, or on its
 * controller as the default for its handlers); the guard refuses a route that has neither, so a
 * new endpoint cannot be open by accident.
 */
export const Roles = (...roles: Role[]) => SetMetadata(REQUIRED_ROLES, roles);
