// The fleet manifests (deploy/kubernetes), checked offline: every object the root kustomization
// reaches validates against the Kubernetes API schemas (kubernetes-models), and the pieces agree with
// each other and with the backend: probes on /readyz and /healthz at the container port, a GPU in GPU
// pools, each HPA scaling its Deployment on the gauge the backend exports and the Prometheus adapter
// serves, PDB and Service selectors that pick the Deployment's pods, an environment the backend accepts.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { IService } from 'kubernetes-models/v1/Service';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { loadConfig } from '../../gpu-backend/src/config.ts';
import { Metrics } from '../../gpu-backend/src/metrics.ts';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const deployDir = path.join(repoRoot, 'deploy', 'kubernetes');
const adapterValuesFile = path.join(deployDir, 'prometheus-adapter', 'values.yaml');

/** The model class for each apiVersion/kind the fleet uses; any other kind fails the suite. */
const modelClasses = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
} as const;
type ModelKey = keyof typeof modelClasses;

interface Manifest {
  file: string;
  object: { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown };
}

/** Reads a kustomization's resources as `kubectl apply -k` reaches them: files, and folders holding a kustomization. */
function loadKustomization(dir: string, files: string[] = []): Manifest[] {
  const kustomizationFile = path.join(dir, 'kustomization.yaml');
  files.push(kustomizationFile);
  const kustomization = parseYaml(readFileSync(kustomizationFile, 'utf8')) as { resources?: string[] };
  const manifests: Manifest[] = [];
  for (const resource of kustomization.resources ?? []) {
    const target = path.join(dir, resource);
    if (statSync(target).isDirectory()) {
      manifests.push(...loadKustomization(target, files));
      continue;
    }
    files.push(target);
    for (const doc of parseAllDocuments(readFileSync(target, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${target}: ${doc.errors[0]?.message}`);
      const object = doc.toJS() as Manifest['object'] | null;
      if (object !== null) manifests.push({ file: path.relative(repoRoot, target), object });
    }
  }
  return manifests;
}

function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return yamlFilesUnder(full);
    return /\.ya?ml$/.test(entry.name) ? [full] : [];
  });
}

function validateManifest(object: Manifest['object']): void {
  const key = `${object.apiVersion}/${object.kind}`;
  if (!(key in modelClasses))
    throw new Error(`no schema for ${key} (known: ${Object.keys(modelClasses).join(', ')})`);
  const ModelClass = modelClasses[key as ModelKey];
  // The constructor's type is each class's own interface; the schema check is what matters here.
  new (ModelClass as unknown as new (data: unknown) => { validate(): void })(object).validate();
}

const reachedFiles: string[] = [];
const manifests = loadKustomization(deployDir, reachedFiles);
const ofKind = <T>(kind: string) =>
  manifests.filter((m) => m.object.kind === kind).map((m) => m.object as unknown as T);
const deployments = ofKind<IDeployment>('Deployment');
const services = ofKind<IService>('Service');
const hpas = ofKind<IHorizontalPodAutoscaler>('HorizontalPodAutoscaler');
const pdbs = ofKind<IPodDisruptionBudget>('PodDisruptionBudget');
const configMaps = ofKind<IConfigMap>('ConfigMap');
const pendingGauge = new Metrics({ defaultMetrics: false }).pending as unknown as { name: string };

const selects = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  selector !== undefined &&
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

function backendContainer(deployment: IDeployment) {
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'backend');
  if (container === undefined) throw new Error(`${deployment.metadata?.name}: no container named backend`);
  return container;
}

describe('fleet manifests: schemas', () => {
  it('reaches every YAML file under deploy/kubernetes from the root kustomization (adapter values aside)', () => {
    const orphans = yamlFilesUnder(deployDir).filter(
      (f) => f !== adapterValuesFile && !reachedFiles.includes(f),
    );
    expect(orphans).toEqual([]);
    expect(manifests.length).toBeGreaterThanOrEqual(11);
  });

  it.each(manifests.map((m) => [`${m.file} ${m.object.kind}/${m.object.metadata.name}`, m.object] as const))(
    'validates %s against the Kubernetes API schema',
    (_name, object) => {
      expect(() => validateManifest(object)).not.toThrow();
    },
  );

  it('rejects a Deployment whose fields break the schema (the validation is live)', () => {
    const broken = structuredClone(deployments[0]) as unknown as Manifest['object'] & {
      spec: {
        replicas: unknown;
        template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } };
      };
    };
    broken.spec.replicas = 'two';
    expect(() => validateManifest(broken)).toThrow(/replicas must be integer/);
    const badPort = structuredClone(deployments[0]) as unknown as typeof broken;
    const port = badPort.spec.template.spec.containers[0]?.ports[0];
    if (port === undefined) throw new Error('the first Deployment has no port');
    port.containerPort = 'http';
    expect(() => validateManifest(badPort)).toThrow(/containerPort must be integer/);
  });

  it('refuses a kind it has no schema for', () => {
    expect(() => validateManifest({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toThrow(
      /no schema for v1\/Pod/,
    );
  });
});

describe('fleet manifests: the pieces agree', () => {
  it('has a CPU pool and a GPU pool', () => {
    const devices = deployments.map(
      (d) => backendContainer(d).env?.find((e) => e.name === 'GIGATOK_DEVICE')?.value,
    );
    expect(devices).toContain('cpu');
    expect(devices).toContain('cuda');
  });

  describe.each(deployments.map((d) => [d.metadata?.name ?? '?', d] as const))('%s', (name, deployment) => {
    const container = backendContainer(deployment);
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
    const sharedEnv = configMaps.find((c) =>
      container.envFrom?.some((source) => source.configMapRef?.name === c.metadata?.name),
    );
    const podLabels = deployment.spec?.template.metadata?.labels;

    it('probes readiness on /readyz and liveness on /healthz at the port the server listens on', () => {
      const httpPort = container.ports?.find((p) => p.name === 'http');
      expect(httpPort?.containerPort).toBe(Number(sharedEnv?.data?.PORT));
      expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
      expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        expect([httpPort?.name, httpPort?.containerPort]).toContain(probe?.httpGet?.port);
      }
      expect(sharedEnv?.data?.HOST).toBe('0.0.0.0');
    });

    it('takes the backend secret from a Secret, never a literal', () => {
      const secret = container.env?.find((e) => e.name === 'GIGATOK_BACKEND_SECRET');
      expect(secret?.value).toBeUndefined();
      expect(secret?.valueFrom?.secretKeyRef?.name).toBe('gigatok-backend-secret');
      expect(sharedEnv?.data).not.toHaveProperty('GIGATOK_BACKEND_SECRET');
    });

    it('requests one GPU, on GPU nodes, exactly when the device is cuda', () => {
      const gpus = container.resources?.limits?.['nvidia.com/gpu'];
      const spec = deployment.spec?.template.spec;
      if (env.GIGATOK_DEVICE === 'cuda') {
        expect(gpus).toBe(1);
        expect(spec?.nodeSelector?.['nvidia.com/gpu.present']).toBe('true');
        expect(spec?.tolerations?.some((t) => t.key === 'nvidia.com/gpu' && t.effect === 'NoSchedule')).toBe(
          true,
        );
      } else {
        expect(gpus).toBeUndefined();
      }
    });

    it('gives the server time to drain before the kubelet kills it', () => {
      const graceMs = (deployment.spec?.template.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
      const preStopMs = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0) * 1000;
      expect(preStopMs + Number(sharedEnv?.data?.GIGATOK_SHUTDOWN_TIMEOUT_MS)).toBeLessThan(graceMs);
    });

    it('sets an environment the backend configuration accepts', () => {
      // Model directories inside the image or volume stand in for ones in this checkout.
      const modelDirs = (env.GIGATOK_MODEL_DIRS ?? '')
        .split(',')
        .map((d) =>
          d === '/app/models/gigatok-nano'
            ? path.join(repoRoot, 'models', 'gigatok-nano')
            : path.join(repoRoot, 'gpu-backend', 'test', 'fixtures', 'tiny-random'),
        );
      const config = loadConfig({
        ...sharedEnv?.data,
        ...env,
        GIGATOK_MODEL_DIRS: modelDirs.join(','),
        GIGATOK_BACKEND_SECRET: 'a-stand-in-secret-of-32-characters',
      });
      expect(config.device).toBe(env.GIGATOK_DEVICE);
      expect(config.port).toBe(Number(sharedEnv?.data?.PORT));
    });

    it('is picked by exactly one Service, one PDB and one HPA', () => {
      const picking = services.filter((s) => selects(s.spec?.selector, podLabels));
      expect(picking).toHaveLength(1);
      expect(picking[0]?.spec?.ports?.[0]?.targetPort).toBe('http');
      const budgets = pdbs.filter((p) => selects(p.spec?.selector?.matchLabels, podLabels));
      expect(budgets).toHaveLength(1);
      expect(selects(deployment.spec?.selector.matchLabels, podLabels)).toBe(true);
      const scalers = hpas.filter(
        (h) => h.spec?.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === name,
      );
      expect(scalers).toHaveLength(1);
      expect(scalers[0]?.spec?.minReplicas ?? 1).toBeGreaterThanOrEqual(2);
    });

    it('never shares a pod label set with another pool', () => {
      const others = deployments.filter((d) => d !== deployment);
      for (const other of others)
        expect(selects(deployment.spec?.selector.matchLabels, other.spec?.template.metadata?.labels)).toBe(
          false,
        );
    });
  });

  it('scales every HPA on the backend queue gauge, served per pod by the Prometheus adapter rule', () => {
    expect(pendingGauge.name).toBe('nv_inference_pending_request_count');
    const values = parseYaml(readFileSync(adapterValuesFile, 'utf8')) as {
      rules: {
        custom: {
          seriesQuery: string;
          name: { as: string };
          resources: { overrides: Record<string, { resource: string }> };
        }[];
      };
    };
    const served = values.rules.custom.filter((r) => r.seriesQuery.startsWith(`${pendingGauge.name}{`));
    expect(served).toHaveLength(1);
    expect(served[0]?.resources.overrides.pod?.resource).toBe('pod');
    for (const hpa of hpas) {
      const metrics = hpa.spec?.metrics ?? [];
      expect(metrics.map((m) => m.type)).toEqual(['Pods']);
      expect(metrics[0]?.pods?.metric.name).toBe(served[0]?.name.as);
      expect(deployments.some((d) => d.metadata?.name === hpa.spec?.scaleTargetRef.name)).toBe(true);
    }
  });
});
