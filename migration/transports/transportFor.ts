import { MlflowClient } from "../../clients/mlflow";
import { databricksTransport } from "./databricks";
import { mlflowArtifactsTransport } from "./mlflowArtifacts";
import { ArtifactTransport } from "./transport";

/** Chooses the artifact transport once, from the endpoint. */
export function transportFor(client: MlflowClient): ArtifactTransport {
  return client.endpoint.transport === "databricks" ? databricksTransport(client) : mlflowArtifactsTransport(client);
}
