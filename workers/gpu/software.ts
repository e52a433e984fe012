/**
 * @file Whether an adapter is a software one (SwiftShader, llvmpipe/lavapipe, WARP): it runs our kernels
 * correctly but one to two orders of magnitude slower, so the engine picks f32 activations there and the UI
 * sizes its benchmark down. Plain data in, no GPU calls: the UI imports it too.
 */

/** The adapter facts it reads (GpuInfo has them all). */
export interface AdapterFacts {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly isFallbackAdapter: boolean;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic render|warp/i;

export function isSoftwareAdapter(a: AdapterFacts): boolean {
  return a.isFallbackAdapter || SOFTWARE.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
}
