// The platform's objects as its API returns them (docs/api.md), as far as the console reads them.
export interface Model {
  name: string;
  description: string;
  task: string | null;
  owner: string;
  tags: string[];
  archived: boolean;
  created_at: string;
  updated_at: string;
  aliases?: Record<string, number>;
}

export interface TensorSpec {
  name: string;
  datatype: string;
  shape: number[];
}

export interface Version {
  model: string;
  version: number;
  framework: string;
  digest: string;
  size: number;
  signature: { inputs?: TensorSpec[]; outputs?: TensorSpec[] };
  metrics: Record<string, number>;
  params: Record<string, unknown>;
  lineage: Record<string, unknown>;
  artifact: { kind: "file" | "directory"; entry?: string };
  status: string;
  status_reason?: string;
  created_by: string;
  created_at: string;
}

export interface AliasMove {
  alias: string;
  from_version: number | null;
  to_version: number | null;
  moved_by: string;
  moved_at: string;
}

export interface Deployment {
  name: string;
  model: string;
  version?: number;
  alias?: string;
  state: string;
  reason?: string;
  serving?: { version: number; role: string; weight: number }[];
  traffic?: {
    candidate?: { version: number } | null;
    weight?: number;
    history?: { at: string; action: string; from_version?: number | null; to_version?: number | null; weight?: number }[];
  };
  created_by?: string;
  instances?: number;
  threads?: number;
  max_batch_size?: number;
  max_queue_delay_us?: number;
  timeout_ms?: number;
}
