package org.livyserver.jobapi;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.apache.livy.Job;
import org.apache.livy.JobContext;
import org.apache.spark.api.java.function.Function;
import org.apache.spark.api.java.function.Function2;

/** Monte Carlo estimate of pi on the executors: `slices` tasks of `samples / slices`
 *  points each, seeded per slice so the value is the same on every run. */
public final class PiJob implements Job<Double> {
    private final int samples;
    private final int slices;

    public PiJob(int samples, int slices) {
        this.samples = samples;
        this.slices = slices;
    }

    @Override
    public Double call(JobContext jc) {
        List<Integer> seeds = new ArrayList<>();
        for (int i = 0; i < slices; i++) {
            seeds.add(i);
        }
        long inside = jc.sc().parallelize(seeds, slices)
                .map(new Sample(samples / slices))
                .reduce(new Sum());
        return 4.0 * inside / ((long) (samples / slices) * slices);
    }

    /** Points of one slice that fall inside the unit circle. */
    static final class Sample implements Function<Integer, Long> {
        private final int points;

        Sample(int points) {
            this.points = points;
        }

        @Override
        public Long call(Integer seed) {
            Random r = new Random(seed);
            long in = 0;
            for (int i = 0; i < points; i++) {
                double x = r.nextDouble() * 2 - 1;
                double y = r.nextDouble() * 2 - 1;
                if (x * x + y * y <= 1) {
                    in++;
                }
            }
            return in;
        }
    }

    static final class Sum implements Function2<Long, Long, Long> {
        @Override
        public Long call(Long a, Long b) {
            return a + b;
        }
    }
}
