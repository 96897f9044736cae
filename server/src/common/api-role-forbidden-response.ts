import { ApiForbiddenResponse } from '@nestjs/swagger';

/**
 * Swagger: every route that needs a role answers 403 to a caller holding none of them. A handler
 * with its own 403 (an approver deciding their own request) documents both in its description.
 */
export const ApiRoleForbiddenResponse = () =>
  ApiForbiddenResponse({
    description: '{statusCode: 403, error, message, requiredRoles, heldRoles}: the caller holds none of the roles this route needs (the message names them)',
  });
