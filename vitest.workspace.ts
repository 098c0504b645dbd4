// The projects of the workspace: each package's own vitest.config.ts. The root vitest.config.ts hands this list
// to `test.projects` (vitest 3.2 deprecated reading it as a workspace file).
export default ["packages/*"]
