/**
 * Drives a dynamic provider through the real host the Pulumi engine uses
 * (`@pulumi/pulumi/cmd/dynamic-provider`) over gRPC, with the provider serialized by the SDK's own
 * closure serialization: the same path as `pulumi up`, so closure-serialization mistakes show up here.
 */
import { ChildProcess, spawn } from "child_process";
import * as grpc from "@grpc/grpc-js";

const { serializeFunction } = require("@pulumi/pulumi/runtime/closure/serializeClosure");
const providerPb = require("@pulumi/pulumi/proto/provider_pb");
const providerGrpc = require("@pulumi/pulumi/proto/provider_grpc_pb");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");

/** The provider's serialized text, exactly as `pulumi.dynamic.Resource` produces it. */
export async function serializeProvider(provider: object): Promise<string> {
  return (await serializeFunction(() => provider, { allowSecrets: true })).text;
}

export interface CheckFailure {
  property: string;
  reason: string;
}

export class ProviderHost {
  private out = "";
  private constructor(
    private proc: ChildProcess,
    private client: any,
    readonly text: string,
    readonly type: string,
  ) {}

  /** All the host process wrote to stdout and stderr: where a leaked token would show. */
  get output(): string {
    return this.out;
  }

  static async start(provider: object, type = "pulumi-nodejs:dynamic:Resource", env: NodeJS.ProcessEnv = {}): Promise<ProviderHost> {
    const text = await serializeProvider(provider);
    const entry = require.resolve("@pulumi/pulumi/cmd/dynamic-provider");
    const proc = spawn(process.execPath, [entry, "127.0.0.1:1"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let out = "";
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dynamic provider host gave no port: ${out}`)), 30000);
      proc.stdout!.on("data", (d) => {
        out += d;
        const m = /^(\d+)\s*$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      proc.stderr!.on("data", (d) => (out += d));
      proc.on("exit", (code) => reject(new Error(`dynamic provider host exited ${code}: ${out}`)));
    });
    const client = new providerGrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const host = new ProviderHost(proc, client, text, type);
    host.out = out;
    proc.stdout!.on("data", (d) => (host.out += d));
    proc.stderr!.on("data", (d) => (host.out += d));
    return host;
  }

  private call<T>(method: string, req: any): Promise<T> {
    return new Promise((resolve, reject) => this.client[method](req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));
  }

  private struct(props: Record<string, unknown>) {
    return Struct.fromJavaScript({ __provider: this.text, ...props });
  }

  private urn(name: string) {
    return `urn:pulumi:test::quant-platform::${this.type}::${name}`;
  }

  private static strip(o: Record<string, unknown>): Record<string, any> {
    const { __provider, ...rest } = o;
    return rest;
  }

  /** Sends the stack configuration the engine would send (keys like `quant-platform:gitlabToken`). */
  async configure(config: Record<string, string>): Promise<void> {
    const req = new providerPb.ConfigureRequest();
    req.setArgs(Struct.fromJavaScript(config));
    req.setAcceptsecrets(true);
    await this.call("configure", req);
  }

  async check(
    name: string,
    olds: Record<string, unknown>,
    news: Record<string, unknown>,
  ): Promise<{ inputs: Record<string, any>; failures: CheckFailure[] }> {
    const req = new providerPb.CheckRequest();
    req.setUrn(this.urn(name));
    req.setOlds(Struct.fromJavaScript(olds));
    req.setNews(this.struct(news));
    const res: any = await this.call("check", req);
    return {
      inputs: ProviderHost.strip(res.getInputs().toJavaScript()),
      failures: res.getFailuresList().map((f: any) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  async diff(
    name: string,
    id: string,
    olds: Record<string, unknown>,
    news: Record<string, unknown>,
  ): Promise<{ changes: boolean; replaces: string[] }> {
    const { changes, replaces } = await this.diffWithOrder(name, id, olds, news);
    return { changes, replaces };
  }

  /** As `diff`, with the order the engine is told to replace in: `deleteBeforeReplace` false is create before delete. */
  async diffWithOrder(
    name: string,
    id: string,
    olds: Record<string, unknown>,
    news: Record<string, unknown>,
  ): Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }> {
    const req = new providerPb.DiffRequest();
    req.setId(id);
    req.setUrn(this.urn(name));
    req.setOlds(this.struct(olds));
    req.setNews(this.struct(news));
    const res: any = await this.call("diff", req);
    return {
      changes: res.getChanges() === providerPb.DiffResponse.DiffChanges.DIFF_SOME,
      replaces: res.getReplacesList(),
      deleteBeforeReplace: res.getDeletebeforereplace(),
    };
  }

  async create(name: string, props: Record<string, unknown>): Promise<{ id: string; props: Record<string, any> }> {
    const req = new providerPb.CreateRequest();
    req.setUrn(this.urn(name));
    req.setProperties(this.struct(props));
    const res: any = await this.call("create", req);
    return { id: res.getId(), props: ProviderHost.strip(res.getProperties().toJavaScript()) };
  }

  async read(name: string, id: string, props: Record<string, unknown>): Promise<{ id: string; props: Record<string, any> }> {
    const req = new providerPb.ReadRequest();
    req.setId(id);
    req.setUrn(this.urn(name));
    req.setProperties(this.struct(props));
    const res: any = await this.call("read", req);
    return { id: res.getId(), props: ProviderHost.strip(res.getProperties().toJavaScript()) };
  }

  async update(name: string, id: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<Record<string, any>> {
    const req = new providerPb.UpdateRequest();
    req.setId(id);
    req.setUrn(this.urn(name));
    req.setOlds(this.struct(olds));
    req.setNews(this.struct(news));
    const res: any = await this.call("update", req);
    return ProviderHost.strip(res.getProperties().toJavaScript());
  }

  async delete(name: string, id: string, props: Record<string, unknown>): Promise<void> {
    const req = new providerPb.DeleteRequest();
    req.setId(id);
    req.setUrn(this.urn(name));
    req.setProperties(this.struct(props));
    await this.call("delete", req);
  }

  async stop(): Promise<void> {
    this.client.close();
    if (this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill();
      await exited;
    }
  }
}
