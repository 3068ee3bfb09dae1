import { MlflowClient, registryOf } from "../../clients/mlflow";
import { StoreSettings } from "../../clients/objectStore";
import { databricksTransport } from "./databricks";
import { mlflowArtifactsTransport } from "./mlflowArtifacts";
import { ArtifactTransport } from "./transport";
import { unityCatalogTransport } from "./unityCatalog";

/** Chooses the artifact transport once, from the endpoint. */
export function transportFor(client: MlflowClient, settings?: Partial<StoreSettings>): ArtifactTransport {
  if (registryOf(client.endpoint) === "unity-catalog") return unityCatalogTransport(client, settings);
  return client.endpoint.transport === "databricks" ? databricksTransport(client, settings) : mlflowArtifactsTransport(client);
}
