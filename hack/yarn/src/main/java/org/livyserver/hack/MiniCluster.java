package org.livyserver.hack;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import sun.misc.Signal;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.security.UserGroupInformation;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A YARN ResourceManager with its NodeManagers and an HDFS NameNode with one
 * DataNode, all in this JVM and on loopback, for livy-server's tests and for
 * trying it by hand.
 *
 * <p>Usage: {@code MiniCluster DIR}, run with DIR as the working directory and
 * {@code -Dtest.build.data=DIR/test-data} (where MiniYARNCluster keeps its
 * NodeManagers' directories) by hack/yarn.sh. Writes the client
 * configuration with the real bound addresses to {@code DIR/conf}, the URLs to
 * {@code DIR/env}, then creates {@code DIR/ready}; stops YARN and HDFS on
 * SIGTERM or SIGINT. Sizes come from the environment:
 * {@code MINICLUSTER_NODEMANAGERS} (2), {@code MINICLUSTER_NM_MEMORY_MB}
 * (4096), {@code MINICLUSTER_NM_VCORES} (4).
 *
 * <p>Outages: a command written to {@code DIR/control} ({@code rm-stop},
 * {@code rm-start}, {@code rm-start fresh}) is run and answered in
 * {@code DIR/control.done} ({@code ok ...} or {@code error ...}). The
 * ResourceManager restarts on the same ports and recovers its applications
 * from a state store under {@code DIR/rm-state}; {@code fresh} deletes that
 * store first, so the new ResourceManager has never heard of them.
 */
public final class MiniCluster {
  private static final Logger LOG = LoggerFactory.getLogger(MiniCluster.class);

  private MiniCluster() {}

  private static MiniDFSCluster dfs;
  private static MiniYARNCluster yarn;
  private static int nodeManagers;
  private static Path rmState;

  public static void main(String[] args) {
    if (args.length != 1) {
      System.err.println("usage: MiniCluster DIR");
      System.exit(2);
    }
    // Stop from the main thread on a signal rather than in a JVM shutdown hook: Hadoop's
    // services remove their own hooks while stopping, which fails once the JVM is shutting down.
    CountDownLatch signalled = new CountDownLatch(1);
    for (String name : new String[] {"TERM", "INT", "HUP"}) {
      Signal.handle(new Signal(name), sig -> {
        LOG.info("SIG{} received", sig.getName());
        signalled.countDown();
      });
    }
    int status = 0;
    try {
      Path dir = new File(args[0]).getAbsoluteFile().toPath();
      start(dir);
      while (!signalled.await(200, TimeUnit.MILLISECONDS)) {
        control(dir);
      }
    } catch (Throwable e) {
      LOG.error("failed to start", e);
      status = 1;
    }
    stop();
    // HDFS and YARN leave non-daemon threads behind: exit explicitly.
    System.exit(status);
  }

  /**
   * Stops the NodeManagers in parallel (each kills its containers, then waits up to
   * process-kill-wait + 1.25 s for applications and 10 s for its log-deletion timer, ~13 s),
   * then the ResourceManager, then HDFS.
   */
  private static void stop() {
    LOG.info("stopping");
    if (yarn != null) {
      Thread[] stoppers = new Thread[nodeManagers];
      for (int i = 0; i < nodeManagers; i++) {
        int nm = i;
        stoppers[i] = new Thread(() -> quietly("NodeManager " + nm,
            () -> yarn.getNodeManager(nm).stop()), "stop-nm-" + i);
        stoppers[i].start();
      }
      for (Thread t : stoppers) {
        try {
          t.join();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      quietly("YARN", yarn::stop);
    }
    if (dfs != null) {
      quietly("HDFS", () -> dfs.shutdown(true));
    }
    LOG.info("stopped");
  }

  /** Runs the command in DIR/control, if there is one, and answers in DIR/control.done. */
  private static void control(Path dir) throws IOException {
    Path file = dir.resolve("control");
    if (!Files.exists(file)) {
      return;
    }
    String command = Files.readString(file, StandardCharsets.UTF_8).trim();
    Files.delete(file);
    String answer;
    try {
      long t0 = System.nanoTime();
      switch (command) {
        case "rm-stop" -> {
          LOG.info("control: stopping the ResourceManager");
          yarn.stopResourceManager(0);
        }
        case "rm-start", "rm-start fresh" -> {
          if (command.endsWith("fresh")) {
            LOG.info("control: deleting the ResourceManager's state store {}", rmState);
            deleteTree(rmState);
          }
          LOG.info("control: starting the ResourceManager");
          yarn.restartResourceManager(0);
          if (!yarn.waitForNodeManagersToConnect(120_000)) {
            throw new IllegalStateException("NodeManagers did not register again within 120 s");
          }
        }
        default -> throw new IllegalArgumentException("unknown command");
      }
      answer = String.format("ok %s (%.1f s)", command, (System.nanoTime() - t0) / 1e9);
    } catch (Exception e) {
      LOG.error("control: " + command + " failed", e);
      answer = "error " + command + ": " + e;
    }
    LOG.info("control: {}", answer);
    Path tmp = dir.resolve("control.done.tmp");
    Files.writeString(tmp, answer + "\n", StandardCharsets.UTF_8);
    Files.move(tmp, dir.resolve("control.done"), StandardCopyOption.ATOMIC_MOVE);
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (var paths = Files.walk(root)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  private static void quietly(String what, Runnable stop) {
    try {
      stop.run();
    } catch (RuntimeException e) {
      LOG.warn("stopping " + what + " failed", e);
    }
  }

  private static void start(Path dir) throws Exception {
    nodeManagers = envInt("MINICLUSTER_NODEMANAGERS", 2);
    int nmMemoryMb = envInt("MINICLUSTER_NM_MEMORY_MB", 4096);
    int nmVcores = envInt("MINICLUSTER_NM_VCORES", 4);
    long t0 = System.nanoTime();

    Files.deleteIfExists(dir.resolve("ready"));
    Path conf = dir.resolve("conf");
    Files.createDirectories(conf);
    String user = UserGroupInformation.getCurrentUser().getShortUserName();

    Configuration base = new Configuration();
    base.set("hadoop.tmp.dir", dir.resolve("hadoop-tmp").toString());
    // Let the user running livy-server submit and write as anyone (doAs/proxyUser).
    base.set("hadoop.proxyuser." + user + ".hosts", "*");
    base.set("hadoop.proxyuser." + user + ".groups", "*");

    // HDFS first: YARN's fs.defaultFS must point at it.
    Configuration hdfsConf = new Configuration(base);
    hdfsConf.setInt("dfs.replication", 1);
    hdfsConf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
    hdfsConf.set("dfs.namenode.http-bind-host", "127.0.0.1");
    dfs = new MiniDFSCluster.Builder(hdfsConf, dir.resolve("hdfs").toFile())
        .numDataNodes(1)
        .storagesPerDatanode(1)
        .format(true)
        .build();
    dfs.waitActive();
    String hdfsUrl = "hdfs://127.0.0.1:" + dfs.getNameNodePort();
    int webHdfsPort = dfs.getNameNode().getHttpAddress().getPort();
    prepareHdfs(dfs.getFileSystem());

    YarnConfiguration yarnConf = new YarnConfiguration(base);
    yarnConf.set("fs.defaultFS", hdfsUrl);
    loopbackAddresses(yarnConf);
    yarnConf.setInt(YarnConfiguration.NM_PMEM_MB, nmMemoryMb);
    yarnConf.setInt(YarnConfiguration.NM_VCORES, nmVcores);
    yarnConf.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 256);
    yarnConf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, nmMemoryMb);
    yarnConf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_VCORES, nmVcores);
    // Containers share this small machine: do not kill them for virtual or physical memory,
    // and do not mark the node unhealthy when the disk is nearly full.
    yarnConf.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
    yarnConf.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
    yarnConf.setBoolean("yarn.nodemanager.disk-health-checker.enable", false);
    yarnConf.setFloat(
        "yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage", 100.0f);
    // MiniYARNCluster gives the RM's stores paths without a scheme; with fs.defaultFS on HDFS
    // they would land in HDFS. Keep them on the local disk, under DIR.
    for (String store : new String[] {"node-attribute", "node-labels"}) {
      yarnConf.set("yarn." + store + ".fs-store.root-dir",
          dir.resolve("rm-" + store).toUri().toString());
    }
    // On stop a NodeManager waits this (+1.25 s) for its applications; 3.5.0's default is 5 s.
    yarnConf.setLong(YarnConfiguration.NM_PROCESS_KILL_WAIT_MS, 2000);
    capacityScheduler(yarnConf);
    restartable(yarnConf, dir);

    yarn = new MiniYARNCluster("livy-yarn", 1, nodeManagers, 1, 1);
    yarn.init(yarnConf);
    yarn.start();
    Configuration live = yarn.getConfig();
    // MiniYARNCluster may return before the RM has written its bound ports back.
    String rmAddress = waitForPort(live, YarnConfiguration.RM_ADDRESS);
    String webapp = waitForPort(live, YarnConfiguration.RM_WEBAPP_ADDRESS);
    if (!yarn.waitForNodeManagersToConnect(60_000)) {
      throw new IllegalStateException("NodeManagers did not register within 60 s");
    }
    String rmUrl = "http://" + webapp;

    writeClientConf(conf, live, hdfsUrl, user);
    Files.writeString(dir.resolve("env"),
        "YARN_RM_URL=" + rmUrl + "\n"
            + "HDFS_URL=" + hdfsUrl + "\n"
            + "WEBHDFS_URL=http://127.0.0.1:" + webHdfsPort + "/webhdfs/v1\n"
            + "HADOOP_CONF_DIR=" + conf + "\n",
        StandardCharsets.UTF_8);
    LOG.info(String.format(
        "up in %.1f s: ResourceManager %s (REST %s), %d NodeManagers of %d MB/%d"
            + " vcores, HDFS %s (WebHDFS port %d), conf %s",
        (System.nanoTime() - t0) / 1e9, rmAddress, rmUrl, nodeManagers, nmMemoryMb, nmVcores,
        hdfsUrl, webHdfsPort, conf));
    // Last: whoever waits for this file may read conf/ and env now.
    Path tmp = dir.resolve("ready.tmp");
    Files.writeString(tmp, ProcessHandle.current().pid() + "\n", StandardCharsets.UTF_8);
    Files.move(tmp, dir.resolve("ready"), StandardCopyOption.ATOMIC_MOVE);
  }

  /**
   * Everything on 127.0.0.1, with ports the services pick, except the RM's web address:
   * MiniYARNCluster would bind it to port 0 and the RM would then give applications tracking
   * URLs of http://host:0/proxy/..., so it gets a free port chosen here. "Fixed ports" only
   * stops MiniYARNCluster from replacing these addresses with its own host:0 ones.
   */
  private static void loopbackAddresses(Configuration c) throws IOException {
    c.setBoolean(YarnConfiguration.YARN_MINICLUSTER_FIXED_PORTS, true);
    c.set(YarnConfiguration.RM_HOSTNAME, "127.0.0.1");
    for (String key : new String[] {
        YarnConfiguration.RM_ADDRESS,
        YarnConfiguration.RM_SCHEDULER_ADDRESS,
        YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS,
        YarnConfiguration.RM_ADMIN_ADDRESS,
        YarnConfiguration.NM_ADDRESS,
        YarnConfiguration.NM_LOCALIZER_ADDRESS,
        YarnConfiguration.NM_WEBAPP_ADDRESS,
        YarnConfiguration.NM_COLLECTOR_SERVICE_ADDRESS}) {
      c.set(key, "127.0.0.1:0");
    }
    c.set(YarnConfiguration.RM_WEBAPP_ADDRESS, "127.0.0.1:" + freePort());
  }

  /**
   * What a ResourceManager restart (DIR/control) needs: NodeManagers that talk to the RM over
   * RPC (MiniYARNCluster's in-process ones keep calling the RM object they started with) at
   * addresses fixed before start, so a new RM binds the same ports; RM recovery from a state
   * store on the local disk; and clients (NodeManagers, ApplicationMasters) that try again
   * every second rather than every 30 s.
   */
  private static void restartable(Configuration c, Path dir) throws IOException {
    c.setBoolean(YarnConfiguration.YARN_MINICLUSTER_USE_RPC, true);
    for (String key : new String[] {
        YarnConfiguration.RM_ADDRESS,
        YarnConfiguration.RM_SCHEDULER_ADDRESS,
        YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS,
        YarnConfiguration.RM_ADMIN_ADDRESS}) {
      c.set(key, "127.0.0.1:" + freePort());
    }
    rmState = dir.resolve("rm-state");
    c.setBoolean(YarnConfiguration.RECOVERY_ENABLED, true);
    c.set(YarnConfiguration.RM_STORE,
        "org.apache.hadoop.yarn.server.resourcemanager.recovery.FileSystemRMStateStore");
    c.set(YarnConfiguration.FS_RM_STATE_STORE_URI, rmState.toUri().toString());
    c.setLong(YarnConfiguration.RESOURCEMANAGER_CONNECT_RETRY_INTERVAL_MS, 1000);
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  /** Two queues, default and etl, half the cluster each, either may grow to all of it. */
  private static void capacityScheduler(Configuration c) {
    c.set(YarnConfiguration.RM_SCHEDULER,
        "org.apache.hadoop.yarn.server.resourcemanager.scheduler.capacity.CapacityScheduler");
    // hadoop-client-minicluster ships no capacity-scheduler.xml, so everything is set here.
    String root = "yarn.scheduler.capacity.root";
    c.set(root + ".queues", "default,etl");
    for (String q : new String[] {"default", "etl"}) {
      c.setInt(root + "." + q + ".capacity", 50);
      c.setInt(root + "." + q + ".maximum-capacity", 100);
      // One user (the only one here) may use the whole queue, up to its maximum capacity.
      c.setFloat(root + "." + q + ".user-limit-factor", 2);
      c.set(root + "." + q + ".state", "RUNNING");
      c.set(root + "." + q + ".acl_submit_applications", "*");
      c.set(root + "." + q + ".acl_administer_queue", "*");
    }
    // In a test cluster most containers are Spark drivers (AMs in cluster mode): the default
    // 10 % would queue the second application.
    c.setFloat("yarn.scheduler.capacity.maximum-am-resource-percent", 0.8f);
    c.setInt("yarn.scheduler.capacity.node-locality-delay", -1);
  }

  private static void prepareHdfs(FileSystem fs) throws IOException {
    // Impersonated users write their staging directories under /user/<name>.
    for (String d : new String[] {"/user", "/tmp"}) {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(d);
      fs.mkdirs(p);
      fs.setPermission(p, new FsPermission((short) 01777));
    }
  }

  /** Waits until KEY's value no longer ends in port 0; returns it as ip:port. */
  private static String waitForPort(Configuration c, String key) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (true) {
      String v = c.get(key);
      if (v != null && !v.endsWith(":0")) {
        return toIpPort(v);
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(key + " still has port 0 after 30 s: " + v);
      }
      Thread.sleep(100);
    }
  }

  /** host:port → ip:port, so clients connect where the server bound, whatever the host name. */
  private static String toIpPort(String hostPort) throws IOException {
    int i = hostPort.lastIndexOf(':');
    String host = InetAddress.getByName(hostPort.substring(0, i)).getHostAddress();
    return host + hostPort.substring(i);
  }

  /** core-site, yarn-site and hdfs-site for clients (spark-submit, livy-server). */
  private static void writeClientConf(Path conf, Configuration live, String hdfsUrl, String user)
      throws Exception {
    Map<String, String> core = new TreeMap<>();
    core.put("fs.defaultFS", hdfsUrl);
    core.put("hadoop.proxyuser." + user + ".hosts", "*");
    core.put("hadoop.proxyuser." + user + ".groups", "*");
    writeXml(conf.resolve("core-site.xml"), core);

    Map<String, String> yarnSite = new TreeMap<>();
    for (String key : new String[] {
        YarnConfiguration.RM_ADDRESS,
        YarnConfiguration.RM_SCHEDULER_ADDRESS,
        YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS,
        YarnConfiguration.RM_ADMIN_ADDRESS,
        YarnConfiguration.RM_WEBAPP_ADDRESS}) {
      yarnSite.put(key, waitForPort(live, key));
    }
    yarnSite.put(YarnConfiguration.RM_HOSTNAME, "127.0.0.1");
    // ApplicationMasters and spark-submit retry a restarting RM every second, not every 30 s.
    yarnSite.put(YarnConfiguration.RESOURCEMANAGER_CONNECT_RETRY_INTERVAL_MS, "1000");
    for (String key : new String[] {
        YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB,
        YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB,
        YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_VCORES}) {
      yarnSite.put(key, live.get(key));
    }
    writeXml(conf.resolve("yarn-site.xml"), yarnSite);

    Map<String, String> hdfs = new TreeMap<>();
    hdfs.put("dfs.replication", "1");
    writeXml(conf.resolve("hdfs-site.xml"), hdfs);
  }

  private static void writeXml(Path file, Map<String, String> props) throws IOException {
    Configuration c = new Configuration(false);
    props.forEach((k, v) -> c.set(k, v, "livy-server hack/yarn MiniCluster"));
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (OutputStream out = Files.newOutputStream(tmp)) {
      c.writeXml(out);
    }
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static int envInt(String name, int dflt) {
    String v = System.getenv(name);
    return v == null || v.isBlank() ? dflt : Integer.parseInt(v.trim());
  }
}
