import { BadRequestException, ParseUUIDPipe } from '@nestjs/common';

/** A route parameter that must be a UUID; the 400 names the parameter. */
export function uuidParam(name: string): ParseUUIDPipe {
  return new ParseUUIDPipe({ exceptionFactory: () => new BadRequestException(`${name} must be a UUID`) });
}
