package org.livyserver.jobapi;

import java.util.ArrayList;
import java.util.List;

import org.apache.livy.Job;
import org.apache.livy.JobContext;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.Function;

/** A Spark job of `tasks` tasks that each sleep `millis`: something to cancel. The
 *  tasks sleep in short steps and stop once Spark marks them killed, so a cancelled
 *  job frees its cores whether or not the job group interrupts threads. */
public final class SleepJob implements Job<Long> {
    private final int tasks;
    private final long millis;

    public SleepJob(int tasks, long millis) {
        this.tasks = tasks;
        this.millis = millis;
    }

    @Override
    public Long call(JobContext jc) {
        List<Integer> xs = new ArrayList<>();
        for (int i = 0; i < tasks; i++) {
            xs.add(i);
        }
        return jc.sc().parallelize(xs, tasks).map(new Nap(millis)).count();
    }

    static final class Nap implements Function<Integer, Integer> {
        private final long millis;

        Nap(long millis) {
            this.millis = millis;
        }

        @Override
        public Integer call(Integer x) throws InterruptedException {
            long end = System.currentTimeMillis() + millis;
            TaskContext task = TaskContext.get();
            while (System.currentTimeMillis() < end) {
                if (task != null && task.isInterrupted()) {
                    break;
                }
                Thread.sleep(100);
            }
            return x;
        }
    }
}
