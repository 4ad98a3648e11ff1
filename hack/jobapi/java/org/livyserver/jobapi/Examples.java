package org.livyserver.jobapi;

import java.io.File;
import java.lang.reflect.Field;
import java.net.URI;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.livy.JobHandle;
import org.apache.livy.LivyClient;
import org.apache.livy.LivyClientBuilder;

/**
 * Livy's Java job client (livy-client-http, unchanged) against a server, through its
 * documented API only. Prints one JSON line per example on stdout; exits 0 once it has
 * run to the end (the caller judges the values), 1 on anything unexpected (stack trace
 * on stderr).
 *
 * <pre>
 *   Examples URL JOBS_JAR              the examples
 *   Examples URL JOBS_JAR bench N      N timed submit(job).get() round trips of a trivial job
 * </pre>
 *
 * Environment: JOBAPI_TIMEOUT_S (300), the longest wait for one job or upload.
 */
public final class Examples {
    private static final long TIMEOUT_S = Long.parseLong(envOr("JOBAPI_TIMEOUT_S", "300"));
    private static final String SHARED_NAME = "livy-jobapi-answer";
    private static final String SHARED_VALUE = "forty-two";
    static final String FAILURE_MESSAGE = "livy-jobapi: this job fails on purpose";

    private Examples() {}

    public static void main(String[] args) {
        if (args.length != 2 && !(args.length == 4 && args[2].equals("bench"))) {
            System.err.println("usage: Examples URL JOBS_JAR [bench N]");
            System.exit(2);
        }
        String url = args[0].replaceAll("/+$", "");
        File jar = new File(args[1]);
        try {
            if (args.length == 4) {
                bench(url, jar, Integer.parseInt(args[3]));
            } else {
                examples(url, jar);
            }
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
        // The client's HTTP threads are daemons, but leave no doubt.
        System.exit(0);
    }

    private static void examples(String url, File jar) throws Exception {
        LivyClient client = new LivyClientBuilder()
                .setURI(new URI(url))
                // Documented client settings: poll a job's state sooner than the 100 ms default.
                .setConf("livy.client.http.job.initial-poll-interval", "20ms")
                .setConf("livy.client.http.job.max-poll-interval", "500ms")
                .build();
        boolean stopped = false;
        try {
            int id = sessionId(client);
            emit("session", "id", id);

            await(client.uploadJar(jar));

            emit("pi", "value", await(client.submit(new PiJob(400_000, 4))));
            emit("sql", "value", await(client.submit(new SqlJob())));
            emit("run", "value", await(client.run(new ConstJob("pong"))));

            try {
                Object v = await(client.submit(new FailingJob(FAILURE_MESSAGE)));
                emit("failing", "value", v);
            } catch (ExecutionException e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                emit("failing", "error", String.valueOf(cause.getMessage()));
            }

            cancelExample(client);

            await(client.submit(new SetShared(SHARED_NAME, SHARED_VALUE)));
            emit("shared", "value", await(client.submit(new GetShared(SHARED_NAME))));

            // Livy's re-attach: a URI naming the session makes the client POST .../connect.
            LivyClient again = new LivyClientBuilder()
                    .setURI(new URI(url + "/sessions/" + id))
                    .setConf("livy.client.http.job.initial-poll-interval", "20ms")
                    .build();
            try {
                emit("connect", "value", await(again.submit(new GetShared(SHARED_NAME))));
            } finally {
                again.stop(false);
            }

            client.stop(true);
            stopped = true;
        } finally {
            if (!stopped) {
                try {
                    client.stop(true);
                } catch (RuntimeException e) {
                    System.err.println("Examples: stopping the client after a failure: " + e);
                }
            }
        }
    }

    /** A long Spark job, cancelled once it runs: get() must then throw CancellationException. */
    private static void cancelExample(LivyClient client) throws Exception {
        JobHandle<Long> handle = client.submit(new SleepJob(2, 120_000));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (handle.getState() != JobHandle.State.STARTED && !handle.isDone()
                && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        String seen = String.valueOf(handle.getState());
        Thread.sleep(1000); // let its tasks start on the executors
        long t0 = System.nanoTime();
        handle.cancel(true);
        String error = null;
        boolean cancelled;
        try {
            Object v = handle.get(TIMEOUT_S, TimeUnit.SECONDS);
            cancelled = false;
            error = "completed with " + v;
        } catch (CancellationException e) {
            cancelled = true;
        } catch (ExecutionException e) {
            cancelled = false;
            error = String.valueOf(e.getCause() != null ? e.getCause().getMessage() : e);
        } catch (TimeoutException e) {
            cancelled = false;
            error = "not done " + TIMEOUT_S + " s after cancel";
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        StringBuilder line = new StringBuilder("{\"example\":\"cancel\",\"cancelled\":")
                .append(cancelled).append(",\"state_before\":").append(json(seen))
                .append(",\"ms\":").append(ms);
        if (error != null) {
            line.append(",\"error\":").append(json(error));
        }
        print(line.append('}').toString());
    }

    /**
     * The benchmark: a session (created by this client), jobs.jar uploaded, warm-up, the
     * session idle (its interpreters started: jobs are accepted before that), then N timed
     * submit(ConstJob).get() round trips with the client polling every 1-2 ms (its documented
     * job.initial-poll-interval and job.max-poll-interval; the default 100 ms would be all one
     * measured), and 20 with the client's defaults for reference. Leaves the session running
     * (stop(false)) so the caller can time statements on it; prints its id first.
     */
    private static void bench(String url, File jar, int n) throws Exception {
        String initial = envOr("JOBAPI_BENCH_INITIAL_POLL", "1ms");
        String max = envOr("JOBAPI_BENCH_MAX_POLL", "2ms");
        LivyClient client = new LivyClientBuilder()
                .setURI(new URI(url))
                .setConf("livy.client.http.job.initial-poll-interval", initial)
                .setConf("livy.client.http.job.max-poll-interval", max)
                .build();
        int id = sessionId(client);
        print("{\"bench\":\"session\",\"id\":" + id + "}");
        await(client.uploadJar(jar));
        for (int i = 0; i < 20; i++) {
            await(client.submit(new ConstJob("warm")));
        }
        waitIdle(url, id);
        for (int i = 0; i < 20; i++) {
            await(client.submit(new ConstJob("warm")));
        }
        List<Double> times = timeJobs(client, n);
        print(stats("job", times) + ",\"initial_poll\":" + json(initial)
                + ",\"max_poll\":" + json(max) + "}");
        client.stop(false);

        LivyClient plain = new LivyClientBuilder().setURI(new URI(url + "/sessions/" + id)).build();
        List<Double> plainTimes = timeJobs(plain, 20);
        print(stats("job-default-poll", plainTimes) + "}");
        plain.stop(false);
    }

    /** GET /sessions/{id}/state until idle: the bench's own call, not the job client's. */
    private static void waitIdle(String url, int id) throws Exception {
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        java.net.http.HttpRequest req = java.net.http.HttpRequest.newBuilder(
                new URI(url + "/sessions/" + id + "/state")).build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        String body = "";
        while (System.nanoTime() < deadline) {
            body = http.send(req, java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            if (body.contains("\"idle\"")) {
                return;
            }
            Thread.sleep(100);
        }
        throw new TimeoutException("session " + id + " not idle after " + TIMEOUT_S + " s: " + body);
    }

    private static List<Double> timeJobs(LivyClient client, int n) throws Exception {
        List<Double> times = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            Object v = await(client.submit(new ConstJob("ok")));
            times.add((System.nanoTime() - t0) / 1e6);
            if (!"ok".equals(v)) {
                throw new IllegalStateException("trivial job returned " + v);
            }
        }
        return times;
    }

    private static String stats(String name, List<Double> times) {
        List<Double> xs = new ArrayList<>(times);
        Collections.sort(xs);
        double mean = xs.stream().mapToDouble(Double::doubleValue).average().orElse(0);
        return String.format("{\"bench\":%s,\"n\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"mean_ms\":%.3f,"
                + "\"min_ms\":%.3f,\"max_ms\":%.3f", json(name), xs.size(), pct(xs, 0.5), pct(xs, 0.99),
                mean, xs.get(0), xs.get(xs.size() - 1));
    }

    private static double pct(List<Double> sorted, double q) {
        return sorted.get(Math.min(sorted.size() - 1, (int) (sorted.size() * q)));
    }

    /**
     * The session id the client created or attached to. LivyClient does not expose it;
     * livy-client-http keeps it in HttpClient's `sessionId` field, read here (read only:
     * the client is otherwise used as published).
     */
    private static int sessionId(LivyClient client) throws ReflectiveOperationException {
        Field f = client.getClass().getDeclaredField("sessionId");
        f.setAccessible(true);
        return f.getInt(client);
    }

    private static <T> T await(Future<T> f) throws Exception {
        return f.get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    private static void emit(String example, String key, Object value) {
        print("{\"example\":" + json(example) + "," + json(key) + ":" + json(value) + "}");
    }

    private static void print(String line) {
        System.out.println(line);
        System.out.flush();
    }

    /** JSON text of the values the examples produce: null, numbers, booleans, strings, lists, maps. */
    static String json(Object v) {
        if (v == null) {
            return "null";
        }
        if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            return Double.isFinite(d) ? Double.toString(d) : json(Double.toString(d));
        }
        if (v instanceof Number || v instanceof Boolean) {
            return v.toString();
        }
        if (v instanceof Iterable) {
            StringBuilder b = new StringBuilder("[");
            for (Object x : (Iterable<?>) v) {
                b.append(b.length() > 1 ? "," : "").append(json(x));
            }
            return b.append(']').toString();
        }
        if (v instanceof Map) {
            StringBuilder b = new StringBuilder("{");
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                b.append(b.length() > 1 ? "," : "").append(json(String.valueOf(e.getKey())))
                        .append(':').append(json(e.getValue()));
            }
            return b.append('}').toString();
        }
        String s = v.toString();
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }

    private static String envOr(String name, String dflt) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? dflt : v;
    }
}
