/**
 * A standalone HTTPS Databricks workspace for tests that drive the real Databricks provider: the control
 * API (DatabricksControlApi) and the Workspace API (WorkspaceApi) sharing one tree, every other
 * /api/2.0/mlflow call passed to a real MLflow server, and 501 (logged) for anything else. It listens on
 * 127.0.0.1 with a fresh self-signed certificate; point the provider at `url` and give its process
 * `SSL_CERT_FILE=<certFile>` (Go reads it) so the certificate is verified, not skipped.
 */
import * as fs from "fs";
import * as http from "http";
import { outsideContract } from "./sdkContract";
import * as https from "https";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { apiError, notImplemented } from "./apiReply";
import { DatabricksControlApi } from "./databricksControlApi";
import { makeSelfSignedCert, SelfSignedCert, writeCertFile } from "../selfSignedCert";
import { WorkspaceApi } from "./workspaceApi";

export class DatabricksControlServer {
  readonly workspace = new WorkspaceApi();
  readonly api: DatabricksControlApi;
  readonly cert: SelfSignedCert = makeSelfSignedCert();
  url = "";
  certFile = "";
  /** Requests answered 501 (not implemented), as `METHOD /path?query`: tests assert this stays empty. */
  readonly unimplemented: string[] = [];
  /** Every request with its answer, `+<ms since start> METHOD /path?query -> status`, for call-sequence checks. */
  readonly log: string[] = [];
  private started = Date.now();
  private server?: https.Server;
  private dir?: string;

  constructor(
    readonly token: string,
    private readonly opts: { mlflowUrl?: string; adminUserName?: string } = {},
  ) {
    this.api = new DatabricksControlApi({ token, workspace: this.workspace, mlflowUrl: opts.mlflowUrl, adminUserName: opts.adminUserName });
  }

  get state() {
    return this.api.state;
  }

  /** Starts listening; the certificate is written to `<certDir or a temp dir>/loopback-ca.pem`. */
  async start(certDir?: string): Promise<string> {
    this.dir = certDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "dbx-control-"));
    this.certFile = writeCertFile(this.dir, this.cert);
    this.started = Date.now();
    this.server = https.createServer({ key: this.cert.key, cert: this.cert.cert }, (req, res) => {
      res.on("finish", () => {
        if (res.statusCode === 501) this.unimplemented.push(`${req.method} ${req.url}`);
        this.log.push(`+${Date.now() - this.started}ms ${req.method} ${req.url} -> ${res.statusCode}`);
      });
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () =>
        this.serve(req, res, Buffer.concat(chunks)).catch((e) => {
          console.error(`Databricks test server failed on ${req.method} ${req.url}:`, e);
          if (!res.headersSent) apiError(res, 500, "INTERNAL_ERROR", String(e));
          else res.end();
        }),
      );
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    if (outsideContract(req, res)) return;
    if (await this.api.handle(req, res, body)) return;
    const url = new URL(req.url ?? "/", "http://x");
    this.state.calls.push(`${req.method} ${url.pathname}${url.search}`);
    if (!this.api.caller(req)) {
      apiError(res, 401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type for this API.");
      return;
    }
    if (this.workspace.handle(req, res, url, body)) return;
    if (this.opts.mlflowUrl && url.pathname.startsWith("/api/2.0/mlflow/")) {
      const r = await fetch(`${this.opts.mlflowUrl}${url.pathname}${url.search}`, {
        method: req.method,
        headers: { "Content-Type": "application/json" },
        body: ["GET", "HEAD"].includes(req.method ?? "GET") ? undefined : body,
      });
      res.writeHead(r.status, { "Content-Type": r.headers.get("content-type") ?? "application/json" });
      res.end(await r.text());
      return;
    }
    notImplemented(res, req.method ?? "GET", url);
  }
}
