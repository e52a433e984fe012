/** @file Types of systemSetup.mjs (a plain ES module, run by Node without a build). */
export declare const SETUP_COMMAND: string;

export type SetupPlan =
  | { readonly action: 'none' }
  | { readonly action: 'install'; readonly argv: readonly string[]; readonly message: string }
  | { readonly action: 'stop'; readonly message: string };

export declare function missingFor(
  stages: readonly string[],
  paths: { readonly chromium: string; readonly swiftshader: string; readonly lavapipe: string },
  exists: (file: string) => boolean,
): string[];

export declare function setupPlan(facts: { readonly uid: number | undefined; readonly hasSudo: boolean; readonly missing: readonly string[] }): SetupPlan;
