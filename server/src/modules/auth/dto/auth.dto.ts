import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min, MinLength } from 'class-validator';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../password-hash';
import { ROLES, type Role } from '../roles';
import { API_TOKEN_MAX_DAYS, API_TOKEN_MIN_DAYS } from '../api-tokens.service';

const ROLE_LIST = ROLES.join(', ');

/** POST /api/v1/auth/login */
export class LoginDto {
  @ApiProperty({ example: 'alice' })
  @IsString({ message: 'username must be a string' })
  @MinLength(1, { message: 'username must not be empty' })
  @MaxLength(256, { message: 'username must be at most 256 characters' })
  username!: string;

  @ApiProperty()
  @IsString({ message: 'password must be a string' })
  @MinLength(1, { message: 'password must not be empty' })
  @MaxLength(PASSWORD_MAX_LENGTH, { message: `password must be at most ${PASSWORD_MAX_LENGTH} characters` })
  password!: string;
}

/** POST /api/v1/auth/password */
export class ChangeOwnPasswordDto {
  @ApiProperty()
  @IsString({ message: 'currentPassword must be a string' })
  @MaxLength(PASSWORD_MAX_LENGTH, { message: `currentPassword must be at most ${PASSWORD_MAX_LENGTH} characters` })
  currentPassword!: string;

  @ApiProperty({ minLength: PASSWORD_MIN_LENGTH })
  @IsString({ message: 'newPassword must be a string' })
  newPassword!: string;
}

function rolesProperty(field: string) {
  return [
    IsArray({ message: `${field} must be a list of role names (${ROLE_LIST})` }),
    ArrayMaxSize(ROLES.length, { message: `${field} can list at most ${ROLES.length} roles` }),
    IsIn(ROLES as unknown as string[], { each: true, message: `${field} may only contain ${ROLE_LIST}` }),
  ];
}

function apply(decorators: PropertyDecorator[]): PropertyDecorator {
  return (target, key) => decorators.forEach((decorator) => decorator(target, key));
}

/** POST /api/v1/users */
export class CreateUserDto {
  @ApiProperty({ example: 'alice', description: 'letters, digits, ".", "_", "@", "-"; folded to lower case' })
  @IsString({ message: 'username must be a string' })
  username!: string;

  @ApiPropertyOptional({ example: 'Alice Sato' })
  @IsOptional()
  @IsString({ message: 'displayName must be a string' })
  @MaxLength(128, { message: 'displayName must be at most 128 characters' })
  displayName?: string;

  @ApiProperty({ enum: ROLES, isArray: true })
  @apply(rolesProperty('roles'))
  @ArrayMinSize(1, { message: `roles must name at least one of ${ROLE_LIST}` })
  roles!: Role[];

  @ApiProperty({ minLength: PASSWORD_MIN_LENGTH })
  @IsString({ message: 'password must be a string' })
  password!: string;
}

/** PATCH /api/v1/users/:id */
export class UpdateUserDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString({ message: 'displayName must be a string' })
  @MaxLength(128, { message: 'displayName must be at most 128 characters' })
  displayName?: string;

  @ApiPropertyOptional({ enum: ROLES, isArray: true })
  @IsOptional()
  @apply(rolesProperty('roles'))
  @ArrayMinSize(1, { message: `roles must name at least one of ${ROLE_LIST} (disable the user instead of taking every role)` })
  roles?: Role[];

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean({ message: 'disabled must be true or false' })
  disabled?: boolean;
}

/** POST /api/v1/users/:id/password */
export class ResetPasswordDto {
  @ApiProperty({ minLength: PASSWORD_MIN_LENGTH })
  @IsString({ message: 'password must be a string' })
  password!: string;
}

/** POST /api/v1/api-tokens */
export class CreateApiTokenDto {
  @ApiProperty({ example: 'nightly violations export' })
  @IsString({ message: 'name must be a string' })
  @MinLength(1, { message: 'name must not be empty' })
  @MaxLength(128, { message: 'name must be at most 128 characters' })
  name!: string;

  @ApiProperty({ enum: ROLES, isArray: true, description: 'a subset of your roles' })
  @apply(rolesProperty('roles'))
  @ArrayMinSize(1, { message: 'roles must name at least one of your roles' })
  roles!: Role[];

  @ApiProperty({ minimum: API_TOKEN_MIN_DAYS, maximum: API_TOKEN_MAX_DAYS })
  @IsInt({ message: `expiresInDays must be a whole number from ${API_TOKEN_MIN_DAYS} to ${API_TOKEN_MAX_DAYS}` })
  @Min(API_TOKEN_MIN_DAYS, { message: `expiresInDays must be a whole number from ${API_TOKEN_MIN_DAYS} to ${API_TOKEN_MAX_DAYS}` })
  @Max(API_TOKEN_MAX_DAYS, { message: `expiresInDays must be a whole number from ${API_TOKEN_MIN_DAYS} to ${API_TOKEN_MAX_DAYS}` })
  expiresInDays!: number;
}

/** GET /api/v1/api-tokens */
export class ListApiTokensQuery {
  @ApiPropertyOptional({ description: 'true: every user\'s tokens (admin only)' })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'all must be true or false' })
  all?: boolean;
}
