package org.livyserver.jobapi;

import java.util.ArrayList;

import org.apache.livy.Job;
import org.apache.livy.JobContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/** SQL through the session's SparkSession: `[count(*), sum(id)]` of `range(1000)`,
 *  i.e. `[1000, 499500]`. An ArrayList the client's serializer knows, not a Row. */
public final class SqlJob implements Job<ArrayList<Long>> {
    @Override
    public ArrayList<Long> call(JobContext jc) throws Exception {
        SparkSession spark = jc.sparkSession();
        Row row = spark.sql("SELECT count(*) AS n, sum(id) AS total FROM range(1000)").first();
        ArrayList<Long> out = new ArrayList<>();
        out.add(row.getLong(0));
        out.add(row.getLong(1));
        return out;
    }
}
