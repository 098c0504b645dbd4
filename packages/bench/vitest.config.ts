import { defineProject } from "vitest/config"

// The benchmark is never part of `pnpm test`: this project (vitest.workspace.ts lists packages/*) has no tests.
export default defineProject({
  test: {
    name: "bench",
    include: [],
    passWithNoTests: true
  }
})
