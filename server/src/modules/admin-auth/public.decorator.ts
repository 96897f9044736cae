import { SetMetadata } from '@nestjs/common';

export const PUBLIC_ROUTE = 'mamori:public-route';

/** Marks a REST route that needs no administrator token. */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);
