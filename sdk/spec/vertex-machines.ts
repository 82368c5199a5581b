/**
 * Which accelerators, and how many, a Compute Engine machine type takes on Vertex AI custom training (Compute
 * Engine's GPU machine types): accelerator-optimized types (A2, A3, A4, G2) come with a fixed GPU model and count;
 * N1 types take T4, V100, P100 or P4 in the counts listed, up to a number of vCPUs per count; other families take
 * none. Checked at `definePipeline` only (never on a recorded run's spec), so a later table cannot fail a replay.
 * Sandbox-safe.
 */

interface Fixed {
  type: string;
  count: number;
}

/** Accelerator-optimized machine types: the GPU model and count each one comes with. */
function fixedAccelerators(machineType: string): Fixed | undefined {
  const gpus = /-(\d+)g$/.exec(machineType)?.[1];
  const family: [RegExp, string][] = [
    [/^a2-highgpu-(1|2|4|8)g$/, 'NVIDIA_TESLA_A100'],
    [/^a2-megagpu-16g$/, 'NVIDIA_TESLA_A100'],
    [/^a2-ultragpu-(1|2|4|8)g$/, 'NVIDIA_A100_80GB'],
    [/^a3-highgpu-(1|2|4|8)g$/, 'NVIDIA_H100_80GB'],
    [/^a3-megagpu-8g$/, 'NVIDIA_H100_MEGA_80GB'],
    [/^a3-ultragpu-8g$/, 'NVIDIA_H200_141GB'],
    [/^a4-highgpu-8g$/, 'NVIDIA_B200'],
  ];
  for (const [pattern, type] of family) if (pattern.test(machineType)) return { type, count: Number(gpus) };
  const g2 = /^g2-standard-(4|8|12|16|24|32|48|96)$/.exec(machineType)?.[1];
  if (g2) return { type: 'NVIDIA_L4', count: { '24': 2, '48': 4, '96': 8 }[g2] ?? 1 };
  return undefined;
}

/** N1: per GPU model, the most vCPUs a machine may have for each GPU count. */
const N1_GPU_VCPUS: Record<string, Record<number, number>> = {
  NVIDIA_TESLA_T4: { 1: 48, 2: 48, 4: 96 },
  NVIDIA_TESLA_V100: { 1: 12, 2: 24, 4: 48, 8: 96 },
  NVIDIA_TESLA_P100: { 1: 16, 2: 32, 4: 96 },
  NVIDIA_TESLA_P4: { 1: 24, 2: 48, 4: 96 },
};

/**
 * What is wrong with `accelerator` on `machineType`, naming the field to change (`machineType`,
 * `accelerator.type` or `accelerator.count`); undefined when Vertex would take it. Unknown machine families are
 * left to Vertex.
 */
export function machineAcceleratorProblem(
  machineType: string,
  accelerator: { type: string; count: number } | undefined,
): { field: string; message: string } | undefined {
  const fixed = fixedAccelerators(machineType);
  if (fixed) {
    if (!accelerator)
      return {
        field: 'accelerator',
        message: `${machineType} comes with ${fixed.count} ${fixed.type}: add accelerator: { type: '${fixed.type}', count: ${fixed.count} }`,
      };
    if (accelerator.type !== fixed.type)
      return {
        field: 'accelerator.type',
        message: `${machineType} takes ${fixed.type}, not ${accelerator.type}: change the type or the machineType`,
      };
    if (accelerator.count !== fixed.count)
      return {
        field: 'accelerator.count',
        message: `${machineType} has exactly ${fixed.count} ${fixed.type}; got ${accelerator.count}: use count ${fixed.count} or the machine type of that size`,
      };
    return undefined;
  }
  const n1 = /^n1-(standard|highmem|highcpu)-(\d+)$/.exec(machineType);
  if (n1 && accelerator) {
    const limits = N1_GPU_VCPUS[accelerator.type];
    if (!limits)
      return {
        field: 'accelerator.type',
        message: `N1 machines take ${Object.keys(N1_GPU_VCPUS).join(', ')}; ${accelerator.type} needs its own machine family (e.g. g2-standard-* for NVIDIA_L4, a2-* for A100)`,
      };
    const maxVcpus = limits[accelerator.count];
    if (maxVcpus === undefined)
      return {
        field: 'accelerator.count',
        message: `${accelerator.type} on N1 takes ${Object.keys(limits).join(', ')} per machine; got ${accelerator.count}`,
      };
    if (Number(n1[2]) > maxVcpus)
      return {
        field: 'machineType',
        message: `${machineType} has ${n1[2]} vCPUs; ${accelerator.count} ${accelerator.type} allow at most ${maxVcpus}: pick a smaller machine or more GPUs`,
      };
    return undefined;
  }
  if (accelerator && !n1 && /^(e2|n2|n2d|c2|c2d|c3|m1|m2|t2d|n4)-/.test(machineType))
    return {
      field: 'accelerator',
      message: `${machineType} takes no accelerators: use an N1, G2 or A2/A3 machine type`,
    };
  return undefined;
}
