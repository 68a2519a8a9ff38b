<?php

use Illuminate\Database\Migrations\Migration;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\Schema;

// The app's own table: each login, as the queue worker recorded it (App\Jobs\RecordLogin).
class CreateLoginsTable extends Migration
{
    public function up()
    {
        Schema::create('logins', function (Blueprint $table) {
            $table->id();
            $table->foreignId('user_id')->constrained()->cascadeOnDelete();
            $table->string('ip_address', 45)->nullable();
            $table->unsignedInteger('worker_pid');
            // Which worker: in a container every worker may have the same PID, so the Swarm task's
            // name (WORKER_NAME, set from {{.Task.Name}}) or else the host's name.
            $table->string('worker', 191)->nullable();
            $table->timestamp('processed_at');
            $table->timestamps();
        });
    }

    public function down()
    {
        Schema::dropIfExists('logins');
    }
}
