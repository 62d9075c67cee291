/** The body every bench backend answers with (27 bytes). */
export const BACKEND_BODY = 'hello from a bench backend\n';
