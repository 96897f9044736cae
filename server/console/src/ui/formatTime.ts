export { formatAge, formatBytes, formatTime } from '../lib/format';
