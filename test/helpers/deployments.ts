/** Worker Deployments through the raw WorkflowService (the TS client has no wrapper yet), for the upgrade tests. */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const { VersionDrainageStatus, WorkerDeploymentVersionStatus } = temporal.api.enums.v1;

/** One version of a deployment and what the server says of it. */
export interface VersionState {
  status: string;
  /** `DRAINING` while pinned runs are open on it, `DRAINED` when none are, undefined while current or ramping. */
  drainage?: 'DRAINING' | 'DRAINED';
}

export function deployments(client: Client, deploymentName: string) {
  const service = client.workflowService;
  const namespace = client.options.namespace;
  return {
    async describe(buildId: string): Promise<VersionState> {
      const { workerDeploymentVersionInfo: info } = await service.describeWorkerDeploymentVersion({
        namespace,
        deploymentVersion: { deploymentName, buildId },
      });
      const drainage = info?.drainageInfo?.status;
      return {
        status: (WorkerDeploymentVersionStatus[info?.status ?? 0] ?? 'UNKNOWN').replace(
          'WORKER_DEPLOYMENT_VERSION_STATUS_',
          '',
        ),
        ...(drainage === VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINING ? { drainage: 'DRAINING' } : {}),
        ...(drainage === VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINED ? { drainage: 'DRAINED' } : {}),
      };
    },
    async setCurrent(buildId: string): Promise<void> {
      await service.setWorkerDeploymentCurrentVersion({ namespace, deploymentName, buildId, identity: 'upgrade-test' });
    },
    async setRamping(buildId: string, percentage: number): Promise<void> {
      await service.setWorkerDeploymentRampingVersion({
        namespace,
        deploymentName,
        buildId,
        percentage,
        identity: 'upgrade-test',
      });
    },
  };
}
