export { DASHBOARD_PATH, DEFAULT_ASSETS_DIR, registerDashboard } from './static-files.js';
export type { DashboardOptions } from './static-files.js';
