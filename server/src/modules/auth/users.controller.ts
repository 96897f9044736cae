import { Body, Controller, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiConflictResponse, ApiCookieAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { uuidParam } from '../../common/uuid-param';
import { CreateUserDto, ResetPasswordDto, UpdateUserDto } from './dto/auth.dto';
import { ROLES, type Role } from './roles';
import { Roles } from './roles.decorator';
import { userView, UsersService } from './users.service';

export class UserViewDto {
  @ApiProperty() id!: string;
  @ApiProperty() username!: string;
  @ApiProperty() displayName!: string;
  @ApiProperty({ enum: ROLES, isArray: true }) roles!: Role[];
  @ApiProperty() disabled!: boolean;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true, type: String }) lastSignInAt!: string | null;
}

class UserListView {
  @ApiProperty({ type: [UserViewDto] }) items!: UserViewDto[];
}

/** REST: user accounts, for administrators. Password hashes never leave the service. */
@ApiTags('users')
@ApiBearerAuth()
@ApiCookieAuth()
@ApiRoleForbiddenResponse()
@Roles('admin')
@Controller('api/v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get()
  @Roles('admin')
  @ApiOkResponse({ type: UserListView })
  async list(): Promise<UserListView> {
    return { items: (await this.users.list()).map(userView) };
  }

  @Post()
  @Roles('admin')
  @ApiCreatedResponse({ type: UserViewDto })
  @ApiBadRequestResponse({ description: 'a bad username, no role, or a password shorter than 12 characters' })
  @ApiConflictResponse({ description: 'the username is taken (case-insensitively)' })
  async create(@Body() body: CreateUserDto): Promise<UserViewDto> {
    return userView(await this.users.create(body));
  }

  @Patch(':id')
  @Roles('admin')
  @ApiOkResponse({ type: UserViewDto })
  @ApiConflictResponse({ description: 'the change would leave no enabled user with the admin role' })
  async update(@Param('id', uuidParam('id')) id: string, @Body() body: UpdateUserDto): Promise<UserViewDto> {
    return userView(await this.users.update(id, body));
  }

  @Post(':id/password')
  @Roles('admin')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'password set; every session of that user is ended' })
  @ApiBadRequestResponse({ description: 'the password is shorter than 12 characters' })
  async resetPassword(@Param('id', uuidParam('id')) id: string, @Body() body: ResetPasswordDto): Promise<void> {
    await this.users.setPassword(id, body.password, { action: 'user.password_reset' });
  }
}
